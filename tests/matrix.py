"""The authorization matrix as data: every route x every kind of principal → expected status.

Later issues add their routes here; `test_authorization_matrix.py` fails when a route of the
app is missing. Path parameters and bodies come from small builders, so each principal's call
is valid apart from who makes it: a different status can only come from authorization.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import Role, UserStatus
from app.core.time import utcnow
from app.templates.service import builtin_template_id
from tests.factories import (
    API_SECRET,
    PASSWORD,
    World,
    make_api_client,
    make_assignment,
    make_completion,
    make_goal,
    make_user,
    make_webhook,
    principal_of,
    put_on_care_team,
    unique_email,
)

PRINCIPALS = [
    "admin",
    "therapist",
    "therapist_other",
    "client",
    "client_other",
    "api_full",
    "api_none",
    "other_admin",
    "other_therapist",
    "other_client",
    "anon",
    "expired",
]
CLINIC_A_STAFF = ("admin", "therapist", "therapist_other")
OTHER_CLINIC = ("other_admin", "other_therapist", "other_client")

Params = Callable[[World, AsyncSession], Awaitable[dict[str, str]]]
Body = Callable[[World, str], dict[str, Any] | None]


@dataclass
class Case:
    method: str
    path: str
    expect: dict[str, int]
    params: Params | None = None
    json: Body | None = None
    form: Body | None = None
    note: str = ""
    query: Params | None = None


def expect(default: int, unauthenticated: int = 401, **statuses: int) -> dict[str, int]:
    table = {p: default for p in PRINCIPALS}
    table["anon"] = table["expired"] = unauthenticated
    table.update(statuses)
    return table


def public(status: int) -> dict[str, int]:
    return expect(status, unauthenticated=status)


# Shapes of expectation that many routes share.
def own_client_read(ok: int = 200) -> dict[str, int]:
    """Readable by the client's admin, care team, the client, and API clients with read scope."""
    return expect(
        404,
        admin=ok,
        therapist=ok,
        client=ok,
        api_full=ok,
        api_none=403,
    )


def own_client_staff_write(ok: int = 200, api: int | None = None) -> dict[str, int]:
    """Writable by admin and care team (and API clients with write scope); clients 403."""
    return expect(
        404,
        admin=ok,
        therapist=ok,
        client=403,
        client_other=403,
        other_client=403,
        api_full=ok if api is None else api,
        api_none=403,
    )


def admin_only(ok: int, other_admin: int) -> dict[str, int]:
    return expect(403, admin=ok, other_admin=other_admin)


async def the_client(world: World, db: AsyncSession) -> dict[str, str]:
    return {"client_id": str(world.client.id)}


async def a_therapist(world: World, db: AsyncSession) -> dict[str, str]:
    return {"user_id": str(world.therapist.id)}


async def a_fresh_client(world: World, db: AsyncSession) -> dict[str, str]:
    """A new client on `therapist`'s team, for calls that change who may see the client."""
    client = await make_user(db, world.clinic, Role.client)
    await put_on_care_team(db, world.therapist, client)
    await db.commit()
    return {"client_id": str(client.id)}


async def a_client_needing_support(world: World, db: AsyncSession) -> dict[str, str]:
    """A fresh client on `therapist`'s team with an open support signal."""
    from app.support.models import SupportEpisode

    params = await a_fresh_client(world, db)
    reason = {"rule": "missed_in_a_row", "detail": "3 in a row missed or skipped", "count": 3}
    db.add(
        SupportEpisode(
            clinic_id=world.clinic.id,
            client_id=uuid.UUID(params["client_id"]),
            opened_at=utcnow(),
            reasons=[reason],
            suggestion="different_time_of_day",
        )
    )
    await db.commit()
    return params


async def an_invited_client(world: World, db: AsyncSession) -> dict[str, str]:
    client = await make_user(db, world.clinic, Role.client, status=UserStatus.invited)
    await put_on_care_team(db, world.therapist, client)
    await db.commit()
    return {"client_id": str(client.id)}


async def a_fresh_api_client(world: World, db: AsyncSession) -> dict[str, str]:
    api_client = await make_api_client(db, world.clinic, ["homework:read"])
    await db.commit()
    return {"api_client_id": str(api_client.id)}


async def the_template(world: World, db: AsyncSession) -> dict[str, str]:
    return {"template_id": str(world.template.id), "version": "1"}


async def the_assignment(world: World, db: AsyncSession) -> dict[str, str]:
    return {"assignment_id": str(world.assignment.id)}


async def a_fresh_assignment(world: World, db: AsyncSession) -> dict[str, str]:
    assignment = await make_assignment(db, world.therapist, world.client)
    await db.commit()
    return {"assignment_id": str(assignment.id)}


def _new_template(world: World, principal: str) -> dict[str, Any]:
    return {"slug": f"t-{uuid.uuid4().hex[:8]}", "based_on": str(builtin_template_id("gad-7"))}


def _new_assignment(world: World, principal: str) -> dict[str, Any]:
    return {
        "client_id": str(world.client.id),
        "template_id": str(builtin_template_id("breathing-exercise")),
        "schedule": {
            "start_date": "2026-12-01",
            "rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "times": ["08:00"],
        },
    }


def _program_body(steps: int = 1) -> dict[str, Any]:
    first = {
        "template_id": str(builtin_template_id("thought-record")),
        "schedule": {"rrule": "FREQ=DAILY", "days": 7},
        "release": {"type": "immediately"},
    }
    later = first | {"release": {"type": "after_previous_completed"}, "optional": True}
    return {"title": "Program", "steps": [first] + [later] * (steps - 1)}


async def a_clinic_program(world: World, db: AsyncSession) -> dict[str, str]:
    from app.programs.schemas import ProgramCreate
    from app.programs.service import create_program

    body = ProgramCreate.model_validate({"slug": f"p-{uuid.uuid4().hex[:8]}"} | _program_body())
    program, _ = await create_program(db, principal_of(world.therapist), body)
    await db.commit()
    return {"program_id": str(program.id), "version": "1"}


async def a_fresh_enrolment(world: World, db: AsyncSession) -> dict[str, str]:
    """`client` enrolled (by `therapist`) in a fresh program whose optional step 2 is locked."""
    from app.programs.schemas import EnrolmentCreate, ProgramCreate
    from app.programs.service import create_program, enrol

    therapist = principal_of(world.therapist)
    body = ProgramCreate.model_validate({"slug": f"p-{uuid.uuid4().hex[:8]}"} | _program_body(2))
    program, _ = await create_program(db, therapist, body)
    enrolment = await enrol(db, therapist, program.id, EnrolmentCreate(client_id=world.client.id))
    await db.commit()
    return {"enrolment_id": str(enrolment.id), "position": "2"}


def clinic_program(ok: int) -> dict[str, int]:
    """A clinic program, as a clinic template: its clinic's staff (and API clients with the
    scope); a client only once enrolled in it; another clinic 404."""
    return expect(404, admin=ok, therapist=ok, therapist_other=ok, api_full=ok, api_none=403)


# A clinic template: every member of its clinic sees it; a client only once it is assigned.
def clinic_template(ok: int) -> dict[str, int]:
    return expect(404, admin=ok, therapist=ok, therapist_other=ok, api_full=ok, api_none=403)


def clinic_template_write(ok: int) -> dict[str, int]:
    return expect(
        404,
        admin=ok,
        therapist=ok,
        therapist_other=ok,
        api_full=ok,
        api_none=403,
        client=403,
        client_other=403,
        other_client=403,
    )


async def a_fresh_completion(world: World, db: AsyncSession) -> dict[str, str]:
    completion = await make_completion(db, world.client, world.assignment)
    await db.commit()
    return {"completion_id": str(completion.id)}


def _skip(world: World, principal: str) -> dict[str, Any]:
    return {"completed_at": utcnow().isoformat(), "status": "skipped", "skip_reason": "no_time"}


def _batch(world: World, principal: str) -> dict[str, Any]:
    return {"items": [{"assignment_id": str(world.assignment.id), **_skip(world, principal)}]}


def recorders(ok: int) -> dict[str, int]:
    """The client and their care team; nobody else, and no API client."""
    return expect(
        404,
        therapist=ok,
        client=ok,
        admin=403,
        other_admin=403,
        api_full=403,
        api_none=403,
    )


async def a_fresh_goal(world: World, db: AsyncSession) -> dict[str, str]:
    from sqlalchemy import select

    from app.goals.models import GoalStep

    goal = await make_goal(db, world.therapist, world.client)
    step = await db.scalar(select(GoalStep).where(GoalStep.goal_id == goal.id))
    await db.commit()
    return {"goal_id": str(goal.id), "step_id": str(step.id)}


def goal_writers(ok: int) -> dict[str, int]:
    """Admin, care team and the client themself (and API clients with the write scope)."""
    return expect(404, admin=ok, therapist=ok, client=ok, api_full=ok, api_none=403)


async def a_webhook(world: World, db: AsyncSession) -> dict[str, str]:
    from app.sync.models import WebhookDelivery

    webhook = await make_webhook(db, world.clinic)
    delivery = WebhookDelivery(
        clinic_id=webhook.clinic_id,
        webhook_id=webhook.id,
        event_id=uuid.uuid4(),
        event_sequence=0,
        event_type="webhook.ping",
    )
    db.add(delivery)
    await db.commit()
    return {"webhook_id": str(webhook.id), "delivery_id": str(delivery.id)}


async def the_patient(world: World, db: AsyncSession) -> dict[str, str]:
    return {"patient": f"Patient/{world.client.id}"}


async def the_template_and_client(world: World, db: AsyncSession) -> dict[str, str]:
    return {"client_id": str(world.client.id), "template_id": str(world.template.id)}


def clinic_admins(ok: int) -> dict[str, int]:
    """Admins (and API clients with the write scope) of the owning clinic."""
    return expect(403, admin=ok, api_full=ok, other_admin=404)


def fhir_readers() -> dict[str, int]:
    return expect(
        404,
        admin=200,
        therapist=200,
        api_full=200,
        api_none=403,
        client=403,
        client_other=403,
        other_client=403,
    )


def _new_group(world: World, principal: str) -> dict[str, Any]:
    """A therapist facilitates what they create; an admin or API client names a therapist."""
    named = {
        "admin": world.therapist,
        "api_full": world.therapist,
        "other_admin": world.other_therapist,
    }
    facilitator = named.get(principal)
    return {
        "name": "Mindfulness group",
        "facilitator_ids": [str(facilitator.id)] if facilitator else [],
    }


def _new_group_assignment(world: World, principal: str) -> dict[str, Any]:
    return {k: v for k, v in _new_assignment(world, principal).items() if k != "client_id"}


# Groups: `therapist_other` facilitates; `client` (on `therapist`'s care team, not theirs) is a
# member and `client_other` is not. So `therapist` is a therapist who does not run the group,
# and the matrix reads member x non-member x facilitator x other clinic.
async def a_group(world: World, db: AsyncSession) -> dict[str, str]:
    from app.groups.schemas import GroupCreate, MemberAdd
    from app.groups.service import add_member, create_group

    group = await create_group(
        db, principal_of(world.therapist_other), GroupCreate(name="DBT skills")
    )
    await add_member(
        db,
        principal_of(world.admin),
        group.id,
        MemberAdd(client_id=world.client.id, display_name="Sam"),
    )
    await db.commit()
    return {"group_id": str(group.id), "client_id": str(world.client.id)}


async def a_group_with_homework(world: World, db: AsyncSession) -> dict[str, str]:
    from app.groups.schemas import GroupAssignmentCreate
    from app.groups.service import assign_to_group

    params = await a_group(world, db)
    body = GroupAssignmentCreate.model_validate(_new_group_assignment(world, "admin"))
    homework = await assign_to_group(
        db, principal_of(world.therapist_other), uuid.UUID(params["group_id"]), body
    )
    await db.commit()
    return params | {"group_assignment_id": str(homework.id)}


async def a_group_with_a_completion_to_share(world: World, db: AsyncSession) -> dict[str, str]:
    """The member's fresh completion (with a note) waits in `world.completion_to_share`."""
    params = await a_group(world, db)
    assignment = await make_assignment(db, world.therapist, world.client)
    completion = await make_completion(db, world.client, assignment, note="Too tired today.")
    await db.commit()
    world.completion_to_share = str(completion.id)  # type: ignore[attr-defined]
    return params


async def a_group_share(world: World, db: AsyncSession) -> dict[str, str]:
    from app.groups.schemas import ShareCreate
    from app.groups.sharing import share

    params = await a_group_with_a_completion_to_share(world, db)
    body = ShareCreate(completion_id=world.completion_to_share, fields=["note"])  # type: ignore[attr-defined]
    item = await share(db, principal_of(world.client), uuid.UUID(params["group_id"]), body)
    await db.commit()
    return params | {"share_id": str(item.id)}


def group_readers(ok: int, *, member: int = 403, api: int | None = None) -> dict[str, int]:
    """The admin and the facilitator; the member as `member` says; API clients (with the
    scope) as the admin unless `api` says otherwise. Another therapist of the clinic (even
    the member's own), a non-member and another clinic: not found."""
    return expect(
        404,
        admin=ok,
        therapist_other=ok,
        client=member,
        client_other=403 if member == 403 else 404,
        other_client=403 if member == 403 else 404,
        api_full=ok if api is None else api,
        api_none=403,
    )


def _client_credentials(world: World, principal: str) -> dict[str, Any]:
    return {
        "grant_type": "client_credentials",
        "client_id": str(world.api_clients["api_full"].id),
        "client_secret": API_SECRET,
    }


CASES: list[Case] = [
    Case("GET", "/healthz", public(200)),
    Case("GET", "/readyz", public(200)),
    Case("GET", "/.well-known/jwks.json", public(200)),
    Case("POST", "/v1/auth/token", public(200), form=_client_credentials),
    Case("POST", "/v1/auth/revoke", public(200), form=lambda w, p: {"token": "not-a-token"}),
    Case(
        "POST",
        "/v1/invitations/accept",
        public(422),
        json=lambda w, p: {"code": "no-such-code", "password": "a-long-enough-password"},
        note="public: an unknown code is a 422 for everyone",
    ),
    Case("GET", "/v1/me", expect(200, api_full=403, api_none=403)),
    Case(
        "PATCH",
        "/v1/me",
        expect(200, api_full=403, api_none=403),
        json=lambda w, p: {"display_name": "Renamed"},
    ),
    Case(
        "POST",
        "/v1/me/password",
        expect(204, api_full=403, api_none=403),
        json=lambda w, p: {"current_password": PASSWORD, "new_password": PASSWORD + "-new"},
    ),
    Case("GET", "/v1/users", admin_only(200, other_admin=200)),
    Case(
        "POST",
        "/v1/users",
        admin_only(201, other_admin=201),
        json=lambda w, p: {"email": unique_email(), "display_name": "New", "role": "therapist"},
    ),
    Case("GET", "/v1/users/{user_id}", admin_only(200, other_admin=404), params=a_therapist),
    Case(
        "PATCH",
        "/v1/users/{user_id}",
        admin_only(200, other_admin=404),
        params=a_therapist,
        json=lambda w, p: {"display_name": "Renamed"},
    ),
    Case("GET", "/v1/clients", expect(200, api_none=403)),
    Case(
        "POST",
        "/v1/clients",
        expect(201, client=403, client_other=403, other_client=403, api_none=403),
        json=lambda w, p: {"email": unique_email("client"), "display_name": "New Client"},
    ),
    Case("GET", "/v1/clients/{client_id}", own_client_read(), params=the_client),
    Case(
        "PATCH",
        "/v1/clients/{client_id}",
        own_client_staff_write(),
        params=the_client,
        json=lambda w, p: {"display_name": "Renamed"},
    ),
    Case("GET", "/v1/clients/{client_id}/care-team", own_client_read(), params=the_client),
    Case(
        "PUT",
        "/v1/clients/{client_id}/care-team",
        own_client_staff_write(api=403),
        params=a_fresh_client,
        json=lambda w, p: {"therapist_ids": [str(w.therapist.id), str(w.therapist_other.id)]},
    ),
    Case(
        "POST",
        "/v1/clients/{client_id}/invitations",
        own_client_staff_write(201),
        params=an_invited_client,
    ),
    Case("GET", "/v1/api-clients", admin_only(200, other_admin=200)),
    Case(
        "POST",
        "/v1/api-clients",
        admin_only(201, other_admin=201),
        json=lambda w, p: {"name": "EHR", "scopes": ["homework:read"]},
    ),
    Case(
        "DELETE",
        "/v1/api-clients/{api_client_id}",
        admin_only(204, other_admin=404),
        params=a_fresh_api_client,
    ),
    Case("GET", "/v1/templates", expect(200, api_none=403)),
    Case(
        "POST",
        "/v1/templates",
        expect(201, client=403, client_other=403, other_client=403, api_none=403),
        json=_new_template,
    ),
    Case("GET", "/v1/templates/{template_id}", clinic_template(200), params=the_template),
    Case(
        "GET",
        "/v1/templates/{template_id}/versions/{version}",
        clinic_template(200),
        params=the_template,
    ),
    Case(
        "POST",
        "/v1/templates/{template_id}/versions",
        clinic_template_write(201),
        params=the_template,
        json=lambda w, p: {"title": "Sleep diary (revised)"},
    ),
    Case(
        "POST",
        "/v1/templates/{template_id}/archive",
        clinic_template_write(200),
        params=the_template,
    ),
    Case(
        "POST",
        "/v1/templates/{template_id}/validate",
        clinic_template(200),
        params=the_template,
        json=lambda w, p: {"responses": {"bedtime": "23:15"}},
    ),
    Case("POST", "/v1/assignments", own_client_staff_write(201), json=_new_assignment),
    Case("GET", "/v1/assignments", expect(200, api_none=403)),
    Case("GET", "/v1/assignments/{assignment_id}", own_client_read(), params=the_assignment),
    Case(
        "PATCH",
        "/v1/assignments/{assignment_id}",
        own_client_staff_write(),
        params=the_assignment,
        json=lambda w, p: {"instructions": "Try it after dinner."},
    ),
    Case(
        "DELETE",
        "/v1/assignments/{assignment_id}",
        own_client_staff_write(204),
        params=a_fresh_assignment,
    ),
    Case("GET", "/v1/clients/{client_id}/agenda", own_client_read(), params=the_client),
    Case("GET", "/v1/me/agenda", expect(403, client=200, client_other=200, other_client=200)),
    Case(
        "POST",
        "/v1/assignments/{assignment_id}/completions",
        recorders(201),
        params=the_assignment,
        json=_skip,
    ),
    Case(
        "POST",
        "/v1/completions/batch",
        expect(403, client=200, client_other=200, other_client=200),
        json=_batch,
        note="200 for every client; each item's own status tells whether it was visible",
    ),
    Case("GET", "/v1/completions", expect(200, api_none=403)),
    Case("GET", "/v1/completions/{completion_id}", own_client_read(), params=a_fresh_completion),
    Case(
        "PATCH",
        "/v1/completions/{completion_id}",
        expect(403, client=200, client_other=404, other_client=404),
        params=a_fresh_completion,
        json=lambda w, p: {"skip_reason": "low_motivation"},
    ),
    Case(
        "POST",
        "/v1/completions/{completion_id}/review",
        expect(403, therapist=200, therapist_other=404, other_therapist=404),
        params=a_fresh_completion,
        json=lambda w, p: {"comment": "Thanks for noting this."},
    ),
    Case(
        "GET",
        "/v1/completions/{completion_id}/comments",
        own_client_read(),
        params=a_fresh_completion,
    ),
    Case(
        "POST",
        "/v1/completions/{completion_id}/comments",
        recorders(201),
        params=a_fresh_completion,
        json=lambda w, p: {"body": "Can we talk about this?"},
    ),
    Case("GET", "/v1/goals", expect(200, api_none=403)),
    Case(
        "POST",
        "/v1/goals",
        goal_writers(201),
        json=lambda w, p: {"client_id": str(w.client.id), "title": "Walk daily"},
    ),
    Case("GET", "/v1/goals/{goal_id}", own_client_read(), params=a_fresh_goal),
    Case(
        "PATCH",
        "/v1/goals/{goal_id}",
        goal_writers(200),
        params=a_fresh_goal,
        json=lambda w, p: {"why": "Energy for the kids."},
    ),
    Case("DELETE", "/v1/goals/{goal_id}", goal_writers(204), params=a_fresh_goal),
    Case(
        "POST",
        "/v1/goals/{goal_id}/steps",
        goal_writers(201),
        params=a_fresh_goal,
        json=lambda w, p: {"title": "Lay out shoes the night before"},
    ),
    Case(
        "PATCH",
        "/v1/goals/{goal_id}/steps/{step_id}",
        goal_writers(200),
        params=a_fresh_goal,
        json=lambda w, p: {"done": True},
    ),
    Case("DELETE", "/v1/goals/{goal_id}/steps/{step_id}", goal_writers(204), params=a_fresh_goal),
    Case("GET", "/v1/clients/{client_id}/achievements", own_client_read(), params=the_client),
    Case("GET", "/v1/clients/{client_id}/metrics", own_client_read(), params=the_client),
    Case("GET", "/v1/me/metrics", expect(403, client=200, client_other=200, other_client=200)),
    Case("GET", "/v1/clients/{client_id}/report", own_client_read(), params=the_client),
    Case("GET", "/v1/me/report", expect(403, client=200, client_other=200, other_client=200)),
    Case(
        "GET",
        "/v1/caseload",
        expect(200, client=403, client_other=403, other_client=403, api_none=403),
    ),
    Case("GET", "/v1/programs", expect(200, api_none=403)),
    Case(
        "POST",
        "/v1/programs",
        expect(201, client=403, client_other=403, other_client=403, api_none=403),
        json=lambda w, p: {"slug": f"p-{uuid.uuid4().hex[:8]}"} | _program_body(),
    ),
    Case("GET", "/v1/programs/{program_id}", clinic_program(200), params=a_clinic_program),
    Case(
        "PATCH",
        "/v1/programs/{program_id}",
        clinic_template_write(200),
        params=a_clinic_program,
        json=lambda w, p: {"title": "Program, revised"},
    ),
    Case(
        "GET",
        "/v1/programs/{program_id}/versions/{version}",
        clinic_program(200),
        params=a_clinic_program,
    ),
    Case(
        "POST",
        "/v1/programs/{program_id}/enrolments",
        own_client_staff_write(201),
        params=a_clinic_program,
        json=lambda w, p: {"client_id": str(w.client.id)},
        note="therapist_other: the client is not on their care team",
    ),
    Case("GET", "/v1/enrolments", expect(200, api_none=403)),
    Case(
        "GET",
        "/v1/fhir/PlanDefinition/{program_id}",
        clinic_template_write(200),
        params=a_clinic_program,
    ),
    Case(
        "GET",
        "/v1/fhir/CarePlan/{enrolment_id}",
        own_client_staff_write(),
        params=a_fresh_enrolment,
    ),
    Case("GET", "/v1/enrolments/{enrolment_id}", own_client_read(), params=a_fresh_enrolment),
    Case(
        "PATCH",
        "/v1/enrolments/{enrolment_id}",
        own_client_staff_write(),
        params=a_fresh_enrolment,
        json=lambda w, p: {"status": "paused"},
    ),
    Case(
        "POST",
        "/v1/enrolments/{enrolment_id}/steps/{position}/skip",
        own_client_staff_write(),
        params=a_fresh_enrolment,
    ),
    Case(
        "POST",
        "/v1/groups",
        expect(201, client=403, client_other=403, other_client=403, api_none=403),
        json=_new_group,
    ),
    Case("GET", "/v1/groups", expect(200, api_none=403)),
    Case("GET", "/v1/groups/{group_id}", group_readers(200, member=200), params=a_group),
    Case(
        "PATCH",
        "/v1/groups/{group_id}",
        group_readers(200),
        params=a_group,
        json=lambda w, p: {"name": "DBT skills, Tuesdays"},
    ),
    Case("GET", "/v1/groups/{group_id}/members", group_readers(200, member=200), params=a_group),
    Case(
        "POST",
        "/v1/groups/{group_id}/members",
        group_readers(201),
        params=a_group,
        json=lambda w, p: {"client_id": str(w.client_other.id)},
        note="therapist_other adds client_other, a client of their own care team",
    ),
    Case(
        "PATCH",
        "/v1/groups/{group_id}/members/{client_id}",
        group_readers(200, member=200),
        params=a_group,
        json=lambda w, p: {"display_name": "S."},
        note="client_other: another member's name is not theirs to set",
    ),
    Case(
        "POST",
        "/v1/groups/{group_id}/members/{client_id}/leave",
        group_readers(200, member=200),
        params=a_group,
    ),
    Case(
        "POST",
        "/v1/groups/{group_id}/assignments",
        group_readers(201),
        params=a_group,
        json=_new_group_assignment,
    ),
    Case("GET", "/v1/groups/{group_id}/assignments", group_readers(200), params=a_group),
    Case(
        "GET",
        "/v1/groups/{group_id}/assignments/{group_assignment_id}",
        group_readers(200),
        params=a_group_with_homework,
    ),
    Case(
        "PATCH",
        "/v1/groups/{group_id}/assignments/{group_assignment_id}",
        group_readers(200),
        params=a_group_with_homework,
        json=lambda w, p: {"status": "ended"},
    ),
    Case("GET", "/v1/groups/{group_id}/completions", group_readers(200), params=a_group),
    Case("GET", "/v1/groups/{group_id}/metrics", group_readers(200), params=a_group),
    Case(
        "GET",
        "/v1/groups/{group_id}/shares",
        group_readers(200, member=200, api=403),
        params=a_group,
        note="peer sharing is between people: no API client reads it",
    ),
    Case(
        "POST",
        "/v1/groups/{group_id}/shares",
        expect(403, client=201, client_other=404, other_client=404),
        params=a_group_with_a_completion_to_share,
        json=lambda w, p: {
            "completion_id": getattr(w, "completion_to_share", None),
            "fields": ["note"],
        },
    ),
    Case(
        "PATCH",
        "/v1/groups/{group_id}/shares/{share_id}",
        group_readers(200, api=403),
        params=a_group_share,
        json=lambda w, p: {"hidden": True},
    ),
    Case(
        "DELETE",
        "/v1/groups/{group_id}/shares/{share_id}",
        expect(403, client=204, client_other=404, other_client=404),
        params=a_group_share,
        note="only the member who shared an item withdraws it",
    ),
    Case(
        "GET",
        "/v1/clients/{client_id}/support-episodes",
        expect(
            404,
            admin=200,
            therapist=200,
            api_full=200,
            api_none=403,
            client=403,
            client_other=403,
            other_client=403,
        ),
        params=the_client,
    ),
    Case(
        "POST",
        "/v1/clients/{client_id}/support/acknowledge",
        expect(
            404,
            admin=200,
            therapist=200,
            api_full=403,
            api_none=403,
            client=403,
            client_other=403,
            other_client=403,
        ),
        params=a_client_needing_support,
        note="clients never see their own signal; acknowledging is a person's act",
    ),
    Case(
        "GET",
        "/v1/support-rules",
        expect(200, client=403, client_other=403, other_client=403, api_none=403),
    ),
    Case(
        "PATCH",
        "/v1/support-rules",
        expect(403, admin=200, other_admin=200),
        json=lambda w, p: {"missed_in_a_row": 3},
    ),
    Case(
        "GET",
        "/v1/changes",
        expect(200, client=403, client_other=403, other_client=403, api_none=403),
    ),
    Case("GET", "/v1/webhooks", expect(403, admin=200, api_full=200, other_admin=200)),
    Case(
        "POST",
        "/v1/webhooks",
        expect(403, admin=422, api_full=422, other_admin=422),
        json=lambda w, p: {"url": "https://10.0.0.1/hook", "event_types": ["goal.created"]},
        note="the body is refused (private address) only after authorization passed",
    ),
    Case("GET", "/v1/webhooks/{webhook_id}", clinic_admins(200), params=a_webhook),
    Case(
        "PATCH",
        "/v1/webhooks/{webhook_id}",
        clinic_admins(200),
        params=a_webhook,
        json=lambda w, p: {"event_types": ["goal.updated"]},
    ),
    Case("DELETE", "/v1/webhooks/{webhook_id}", clinic_admins(204), params=a_webhook),
    Case("GET", "/v1/webhooks/{webhook_id}/deliveries", clinic_admins(200), params=a_webhook),
    Case(
        "POST",
        "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
        clinic_admins(200),
        params=a_webhook,
    ),
    Case("POST", "/v1/webhooks/{webhook_id}/ping", clinic_admins(202), params=a_webhook),
    Case("GET", "/v1/fhir/Patient/{client_id}/$everything", fhir_readers(), params=the_client),
    Case("GET", "/v1/fhir/DocumentReference", fhir_readers(), query=the_patient),
    Case(
        "GET",
        "/v1/fhir/Questionnaire/{template_id}",
        expect(
            404,
            admin=200,
            therapist=200,
            therapist_other=200,
            api_full=200,
            api_none=403,
            client=403,
            client_other=403,
            other_client=403,
        ),
        params=the_template_and_client,
    ),
    Case(
        "GET",
        "/v1/clients/{client_id}/export",
        expect(404, admin=200, therapist=200, client=200, api_full=403, api_none=403),
        params=the_client,
    ),
    Case(
        "DELETE", "/v1/clients/{client_id}", admin_only(204, other_admin=404), params=a_fresh_client
    ),
    # api_none holds only audit:read, which is exactly what this route needs.
    Case(
        "GET",
        "/v1/audit-events",
        expect(403, admin=200, api_full=200, api_none=200, other_admin=200),
    ),
]
