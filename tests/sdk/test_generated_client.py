"""A real client: generate a Python SDK from the committed contract and drive a scenario."""

import datetime as dt
import importlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from app.templates.library import get_builtin
from app.templates.service import builtin_template_id
from tests.live_server import Server, cli, plain_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.sdk


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    out = tmp_path_factory.mktemp("sdk")
    venv_bin = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{venv_bin}:{os.environ.get('PATH', '')}"}
    generator = shutil.which("openapi-python-client", path=env["PATH"])
    assert generator, "openapi-python-client is a dev dependency"
    result = subprocess.run(
        [
            generator,
            "generate",
            "--path",
            str(ROOT / "openapi" / "openapi.json"),
            "--meta",
            "none",
            "--output-path",
            str(out / "homework_sdk"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Any endpoint or schema the generator had to skip is a defect of the contract.
    assert "Unable to" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module("homework_sdk")
    finally:
        sys.path.remove(str(out))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = plain_env(f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sdkdb')}/sdk.db")
    cli(env, "migrate")
    cli(env, "seed-demo")
    running = Server(env).start()
    yield running
    running.stop()


def _module(sdk, name):
    return importlib.import_module(f"{sdk.__name__}.{name}")


async def _login(sdk, base_url, email, password):
    create_token = _module(sdk, "api.auth.create_token")
    body = _module(sdk, "models.body_create_token").BodyCreateToken(
        grant_type="password", username=email, password=password
    )
    token = await create_token.asyncio(client=sdk.Client(base_url=base_url), body=body)
    assert token.__class__.__name__ == "TokenResponse", token
    return sdk.AuthenticatedClient(base_url=base_url, token=token.access_token)


async def test_a_generated_client_drives_the_whole_flow(sdk, server):
    models = lambda name: _module(sdk, f"models.{name}")  # noqa: E731
    api = lambda name: _module(sdk, f"api.{name}")  # noqa: E731
    therapist = await _login(sdk, server.url, "therapist@demo.clinic", "demo-password-1")

    created = await api("clients.create_client").asyncio(
        client=therapist,
        body=models("client_create").ClientCreate(
            email=f"sdk-{uuid.uuid4().hex[:8]}@example.com",
            display_name="Sam SDK",
            timezone="Europe/Berlin",
        ),
    )
    assert created.__class__.__name__ == "ClientCreated", created
    accepted = await api("users.accept_invitation").asyncio(
        client=sdk.Client(base_url=server.url),
        body=models("invitation_accept").InvitationAccept(
            code=created.invitation.code, password="sdk-pass-phrase-1"
        ),
    )
    assert accepted.status.value == "active"

    # The client's own today: near midnight the machine's date is another day in Berlin.
    today = dt.datetime.now(ZoneInfo("Europe/Berlin")).date()
    assignment = await api("assignments.create_assignment").asyncio(
        client=therapist,
        idempotency_key=f"a-{uuid.uuid4()}",
        body=models("assignment_create").AssignmentCreate(
            client_id=created.id,
            template_id=builtin_template_id("thought-record"),
            schedule=models("schedule").Schedule(
                start_date=today - dt.timedelta(days=1), rrule="FREQ=DAILY"
            ),
        ),
    )
    assert assignment.__class__.__name__ == "AssignmentRead", assignment

    client = await _login(sdk, server.url, created.email, "sdk-pass-phrase-1")
    responses = models("completion_create_responses").CompletionCreateResponses.from_dict(
        get_builtin("thought-record").realistic_example
    )
    now = dt.datetime.now(dt.UTC)
    done = await api("completions.create_completion").asyncio(
        assignment.id,
        client=client,
        body=models("completion_create").CompletionCreate(
            id=uuid.uuid4(), completed_at=now, responses=responses, mood_before=3, mood_after=6
        ),
    )
    assert done.__class__.__name__ == "CompletionRead", done
    skipped = await api("completions.create_completion").asyncio(
        assignment.id,
        client=client,
        body=models("completion_create").CompletionCreate(
            completed_at=now,
            occurrence_date=today - dt.timedelta(days=1),
            status=models("completion_status").CompletionStatus.SKIPPED,
            skip_reason=models("skip_reason").SkipReason.NO_TIME,
        ),
    )
    assert skipped.status.value == "skipped"

    agenda = await api("agenda.get_my_agenda").asyncio(
        client=client, from_=today - dt.timedelta(days=1), to=today
    )
    statuses = {item.status.value for item in agenda.items}
    assert {"completed", "skipped"} <= statuses

    metrics = await api("metrics.get_client_metrics").asyncio(created.id, client=therapist)
    assert metrics.adherence.completed >= 1 and metrics.mood.average_change == 3.0

    bundle = await api("fhir.get_patient_everything").asyncio_detailed(created.id, client=therapist)
    assert bundle.status_code == 200
    import json

    document = json.loads(bundle.content)
    assert document["resourceType"] == "Bundle"
    assert any(e["resource"]["resourceType"] == "QuestionnaireResponse" for e in document["entry"])
