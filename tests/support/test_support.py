"""Support signals: each rule raises `client.needs_support` once per episode; acknowledgement
and recovery clear it; the caseload and the change feed show it; two workers raise it once."""

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from app.auth.models import Role
from app.core.time import utcnow
from app.core.transactions import writing
from app.support.models import SupportEpisode
from app.support.worker import evaluate_clients
from app.sync.worker import Worker
from tests.factories import make_assignment, make_user, put_on_care_team
from tests.support.conftest import answer, events_of, rounds, struggling_client


async def open_episodes(db, client_id) -> int:
    await db.rollback()
    return await db.scalar(
        select(func.count())
        .select_from(SupportEpisode)
        .where(SupportEpisode.client_id == client_id, SupportEpisode.closed_at.is_(None))
    )


async def test_three_missed_in_a_row_raise_one_signal_with_its_reason(app, db, world):
    client, _ = await struggling_client(db, world, since=3)
    await rounds(app)
    (event,) = await events_of(db, "client.needs_support")
    assert event.client_id == client.id
    assert event.resource_type == "support_episode"
    data = event.payload
    assert data["status"] == "open"
    assert [r["rule"] for r in data["reasons"]] == ["missed_in_a_row"]
    assert data["reasons"][0]["count"] == 3
    # Nothing was answered: the client did not get to it, so another time of day may suit.
    assert data["suggestion"] == "different_time_of_day"


async def test_two_missed_do_not_raise_a_signal(app, db, world):
    client, _ = await struggling_client(db, world, since=2)
    assert await rounds(app) >= 1
    assert await events_of(db, "client.needs_support") == []
    assert await open_episodes(db, client.id) == 0


async def test_skips_count_in_the_run_and_a_done_one_breaks_it(app, db, world):
    client, assignment = await struggling_client(db, world, since=4)
    await answer(db, client, assignment, 4)  # done, then three skipped or missed
    await answer(db, client, assignment, 3, status="skipped", skip_reason="no_time")
    await answer(db, client, assignment, 2, status="skipped", skip_reason="no_time")
    await rounds(app)
    (event,) = await events_of(db, "client.needs_support")
    assert event.payload["reasons"][0]["count"] == 3
    # Skipped for lack of time: a shorter variant.
    assert event.payload["suggestion"] == "shorter_variant"


async def test_the_clients_time_zone_decides_which_days_are_over(app, db, world):
    """Kiritimati (UTC+14) and Pago Pago (UTC-11), the same start date: three of the early
    zone's days are over, at most two of the late zone's."""
    early, _ = await struggling_client(db, world, timezone="Pacific/Kiritimati", since=3)
    start = (await db.get(type(early), early.id)).timezone
    assert start == "Pacific/Kiritimati"
    late = await make_user(db, world.clinic, Role.client, timezone="Pacific/Pago_Pago")
    await put_on_care_team(db, world.therapist, late)
    from tests.factories import make_assignment
    from tests.support.conftest import local_today

    await make_assignment(
        db,
        world.therapist,
        late,
        schedule={
            "start_date": (local_today(early) - timedelta(days=3)).isoformat(),
            "rrule": "FREQ=DAILY",
            "timezone": "Pacific/Pago_Pago",
        },
    )
    await db.commit()
    await rounds(app)
    raised = await events_of(db, "client.needs_support")
    assert [e.client_id for e in raised] == [early.id]


async def test_a_second_evaluation_does_not_repeat_the_signal(app, db, world):
    client, _ = await struggling_client(db, world, since=3)
    await rounds(app)
    # Tomorrow the run is longer; the episode is the same, its reasons follow.
    tomorrow = utcnow() + timedelta(days=1, hours=1)
    assert await rounds(app, now=tomorrow) == 1
    for _ in range(2):
        async with writing(app.state.sessionmaker) as session:
            await evaluate_clients(session, [client.id], tomorrow)
    assert len(await events_of(db, "client.needs_support")) == 1
    (episode,) = (await db.execute(select(SupportEpisode))).scalars()
    assert episode.reasons[0]["count"] == 4


async def test_two_concurrent_evaluations_raise_one_signal(app, db, world):
    client, _ = await struggling_client(db, world, since=3)
    now = utcnow()

    async def evaluate():
        async with writing(app.state.sessionmaker) as session:
            await evaluate_clients(session, [client.id], now)

    await asyncio.gather(*(evaluate() for _ in range(4)))
    assert len(await events_of(db, "client.needs_support")) == 1
    assert await open_episodes(db, client.id) == 1


async def test_two_workers_raise_one_signal(app, db, world):
    client, _ = await struggling_client(db, world, since=3)
    workers = [Worker(app.state.sessionmaker) for _ in range(2)]
    for _ in range(2):
        await asyncio.gather(*(w.run_once() for w in workers))
    (event,) = await events_of(db, "client.needs_support")
    assert event.client_id == client.id


async def test_two_skips_as_too_uncomfortable_in_a_week_raise_a_signal(app, db, world):
    client, assignment = await struggling_client(db, world, since=6)
    for days_ago in (6, 5, 4, 3):
        await answer(db, client, assignment, days_ago)
    for days_ago in (2, 1):
        await answer(
            db, client, assignment, days_ago, status="skipped", skip_reason="too_uncomfortable"
        )
    await rounds(app)
    (event,) = await events_of(db, "client.needs_support")
    assert [r["rule"] for r in event.payload["reasons"]] == ["hard_in_a_week"]
    assert event.payload["reasons"][0]["count"] == 2
    assert event.payload["suggestion"] == "discuss_in_session"


async def test_high_discomfort_counts_as_hard(app, db, world):
    client, assignment = await struggling_client(db, world, since=3)
    await answer(db, client, assignment, 3, discomfort=85)
    await answer(db, client, assignment, 2, discomfort=79)
    await answer(db, client, assignment, 1, discomfort=90)
    await rounds(app)
    (event,) = await events_of(db, "client.needs_support")
    assert [r["rule"] for r in event.payload["reasons"]] == ["hard_in_a_week"]
    assert event.payload["reasons"][0]["count"] == 2


async def test_hard_completions_older_than_a_week_do_not_count(app, db, world):
    client, assignment = await struggling_client(db, world, since=9)
    for days_ago in range(9, 0, -1):
        if days_ago in (9, 8):
            await answer(db, client, assignment, days_ago, discomfort=95)
        else:
            await answer(db, client, assignment, days_ago)
    await rounds(app)
    assert await events_of(db, "client.needs_support") == []


async def test_adherence_under_half_the_previous_three_weeks_raises_a_signal(app, db, world):
    client, assignment = await struggling_client(db, world, since=27)
    for days_ago in range(27, 6, -1):  # the 21 days before the last 7: all done
        await answer(db, client, assignment, days_ago)
    for days_ago in (6, 3):  # the last 7: two done of six, never three missed in a row
        await answer(db, client, assignment, days_ago)
    await rounds(app)
    (event,) = await events_of(db, "client.needs_support")
    (reason,) = event.payload["reasons"]
    assert reason["rule"] == "adherence_drop"
    assert (reason["adherence_7d"], reason["adherence_previous_21d"]) == (0.3333, 1.0)


async def test_recovery_closes_the_episode_and_says_so(app, db, world, client):
    patient, assignment = await struggling_client(db, world, since=3)
    patient_id = patient.id
    await rounds(app)
    await answer(db, patient, assignment, 0)  # today's, done: the run is over
    await rounds(app)
    (cleared,) = await events_of(db, "client.support_cleared")
    assert cleared.payload["status"] == "closed"
    assert cleared.payload["cleared_by"] == "recovered"
    assert await open_episodes(db, patient_id) == 0
    rows = (await client.get("/v1/caseload", headers=world.auth("therapist"))).json()["items"]
    assert [r["needs_support"] for r in rows if r["client_id"] == str(patient_id)] == [None]


async def test_a_new_struggle_after_recovery_is_a_new_episode(app, db, world):
    patient, assignment = await struggling_client(db, world, since=3)
    await rounds(app)
    await answer(db, patient, assignment, 0)
    await rounds(app)
    # Three more days pass unanswered (the fourth is today, not over yet).
    await rounds(app, now=utcnow() + timedelta(days=4, hours=1))
    assert len(await events_of(db, "client.needs_support")) == 2
    assert await open_episodes(db, patient.id) == 1


async def test_the_caseload_shows_the_signal_until_acknowledged(app, db, world, client):
    patient, _ = await struggling_client(db, world, since=3)
    await rounds(app)
    rows = (await client.get("/v1/caseload", headers=world.auth("therapist"))).json()["items"]
    signals = {r["client_id"]: r["needs_support"] for r in rows}
    assert signals[str(world.client.id)] is None
    signal = signals[str(patient.id)]
    assert [r["rule"] for r in signal["reasons"]] == ["missed_in_a_row"]
    assert signal["suggestion"] == "different_time_of_day"
    assert signal["suggestion_text"]

    answered = await client.post(
        f"/v1/clients/{patient.id}/support/acknowledge", headers=world.auth("therapist")
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["status"] == "acknowledged"
    assert answered.json()["acknowledged_by_id"] == str(world.therapist.id)
    rows = (await client.get("/v1/caseload", headers=world.auth("therapist"))).json()["items"]
    assert {r["client_id"]: r["needs_support"] for r in rows}[str(patient.id)] is None


async def test_acknowledging_clears_once_and_the_same_struggle_is_not_raised_again(
    app, db, world, client
):
    patient, _ = await struggling_client(db, world, since=3)
    await rounds(app)
    url = f"/v1/clients/{patient.id}/support/acknowledge"
    first = await client.post(url, headers=world.auth("therapist"))
    again = await client.post(url, headers=world.auth("admin"))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    (cleared,) = await events_of(db, "client.support_cleared")
    assert cleared.payload["cleared_by"] == "acknowledged"
    await rounds(app, now=utcnow() + timedelta(days=1, hours=1))
    assert len(await events_of(db, "client.needs_support")) == 1
    assert len(await events_of(db, "client.support_cleared")) == 1


async def test_acknowledging_without_a_signal_is_a_conflict(client, world):
    answered = await client.post(
        f"/v1/clients/{world.client.id}/support/acknowledge", headers=world.auth("therapist")
    )
    assert answered.status_code == 409
    assert answered.json()["type"].endswith("no-support-signal")


async def test_another_therapists_or_clinics_client_is_not_found(app, db, world, client):
    patient, _ = await struggling_client(db, world, since=3)
    await rounds(app)
    url = f"/v1/clients/{patient.id}/support/acknowledge"
    for principal in ("therapist_other", "other_admin", "other_therapist"):
        answered = await client.post(url, headers=world.auth(principal))
        assert answered.status_code == 404, principal
    assert (await client.post(url, headers=world.auth("client"))).status_code == 403
    assert await open_episodes(db, patient.id) == 1
    assert await events_of(db, "client.support_cleared") == []


async def test_the_episode_history_is_listed_for_the_care_team(app, db, world, client):
    patient, _ = await struggling_client(db, world, since=3)
    await rounds(app)
    url = f"/v1/clients/{patient.id}/support-episodes"
    listed = await client.get(url, headers=world.auth("therapist"))
    assert listed.status_code == 200
    (episode,) = listed.json()["items"]
    assert episode["status"] == "open"
    assert (await client.get(url, headers=world.auth("therapist_other"))).status_code == 404


async def test_the_change_feed_shows_the_signal_to_the_care_team_only(app, db, world, client):
    patient, _ = await struggling_client(db, world, since=3)
    await rounds(app)
    url = "/v1/changes?types=client.needs_support"
    mine = (await client.get(url, headers=world.auth("therapist"))).json()["items"]
    assert [(e["client_id"], e["data"]["reasons"][0]["rule"]) for e in mine] == [
        (str(patient.id), "missed_in_a_row")
    ]
    others = (await client.get(url, headers=world.auth("therapist_other"))).json()["items"]
    assert others == []


async def test_a_clinics_own_rules_are_used(app, db, world, client):
    patient, _ = await struggling_client(db, world, since=3)
    changed = await client.patch(
        "/v1/support-rules", headers=world.auth("admin"), json={"missed_in_a_row": 4}
    )
    assert changed.status_code == 200, changed.text
    await rounds(app)
    assert await events_of(db, "client.needs_support") == []
    assert await open_episodes(db, patient.id) == 0


async def test_an_inactive_client_is_not_evaluated(app, db, world):
    from tests.factories import set_user_status

    patient, _ = await struggling_client(db, world, since=3)
    await set_user_status(db, patient.id, "deactivated")
    await rounds(app)
    assert await events_of(db, "client.needs_support") == []


async def test_only_changed_or_due_clients_are_evaluated(app, db, world):
    first, assignment = await struggling_client(db, world, since=1)
    await struggling_client(db, world, since=1)
    assert await rounds(app) == 2  # both are new
    assert await rounds(app) == 0  # nothing changed since
    await answer(db, first, assignment, 0)
    assert await rounds(app) == 1  # the one who answered
    # After their local midnight, yesterday's unanswered occurrences are missed: both again.
    assert await rounds(app, now=utcnow() + timedelta(days=1, hours=1)) == 2


async def test_the_caseload_reads_signals_without_a_statement_per_client(app, db, world, client):
    from tests.statements import statements

    await struggling_client(db, world, since=3)
    await rounds(app)
    await client.get("/v1/me", headers=world.auth("therapist"))  # the principal check cached
    with statements(app) as one:
        await client.get("/v1/caseload", headers=world.auth("therapist"))
    for _ in range(3):
        await struggling_client(db, world, since=3)
    await rounds(app)
    with statements(app) as four:
        rows = (await client.get("/v1/caseload", headers=world.auth("therapist"))).json()
    assert sum(1 for r in rows["items"] if r["needs_support"]) == 4
    assert len(four) == len(one)
    assert not [s for s in four if "FROM support_episode" in s and "JOIN" not in s]


async def test_one_round_reads_every_clinic_behind_not_only_the_first_batch(
    app, db, world, monkeypatch
):
    """Clinics are read in batches (a transaction each) until none is behind."""
    from app.support import worker as support_worker
    from app.support.models import SupportCheck
    from tests.factories import make_clinic

    monkeypatch.setattr(support_worker, "CLINICS_PER_BATCH", 1)
    clients = []
    for n in range(3):
        clinic = await make_clinic(db, f"Clinic {n}")
        therapist = await make_user(db, clinic, Role.therapist)
        member = await make_user(db, clinic, Role.client)
        await put_on_care_team(db, therapist, member)
        await make_assignment(db, therapist, member)  # announced: assignment.created
        clients.append(member.id)
    await db.commit()
    queued = await support_worker.queue_changed_clients(app.state.sessionmaker, utcnow())
    assert queued == 3
    await db.rollback()
    checked = set(await db.scalars(select(SupportCheck.client_id)))
    assert set(clients) <= checked
