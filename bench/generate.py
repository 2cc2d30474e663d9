"""A PostgreSQL dataset for the metrics benchmark, bulk-loaded with COPY.

    python -m bench.generate --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/homework_bench_1m \
        --completions 1000000 [--clients 10000] [--seed N] [--now 2026-11-25T12:00:00Z]

Drops and re-creates the database, migrates it (Alembic, then the built-in templates, as
`homework-api migrate` does) and loads, for a fixed seed:

- 2 clinics, an admin each, one therapist per ~200 clients (70 % of the clients in the first
  clinic); the first therapist of the first clinic has exactly 200 clients on the care team,
  all of them in treatment now (the caseload the benchmark times); 10 % of the clients have a
  second therapist as well;
- the clients, with 34 IANA zones from UTC-11 to UTC+14 (Kathmandu's +5:45 and Chatham's +12:45
  included), 60 % with an EHR id;
- one treatment episode per client: it started 1 to 730 days ago and lasts 4 to 52 weeks, so
  about a quarter of the clients are in treatment now and the others finished (status completed
  or cancelled, the schedule ended by end_date or by the status change, half each);
- per client ~3 assignments of the built-in templates, each with its schedule row (effective
  from 1970, as `create_assignment` writes it): a daily thought record (untimed), a weekday
  breathing practice at 08:00 (85 % of the clients) and a weekly PHQ-9 on a weekday of the
  client's; 5 % of the clients paused everything for 1 to 3 weeks once; 30 % have a goal with
  3 to 5 steps that the thought record and the breathing serve;
- completions of real occurrences only (the occurrence expansion is checked against the app's
  own on a sample before loading): each past occurrence is a candidate, clients differ in how
  diligent they are (and get less so as the episode goes on), and the `--completions` most
  likely candidates are kept. Mostly done, ~12 % skipped with reasons; moods, discomfort and
  minutes on the practices, PHQ-9 answers scored by the app's own scoring (band, risk on
  item 9); reviews by the therapist for most completions older than a few days;
- then one client with two full years of homework (`add_long_history_client`, the progress
  report's benchmark case): daily thought records, weekday breathing, weekly PHQ-9 and GAD-7,
  two goals, achievements; made from its own seed, so nothing else changes.

The clients, therapists, assignments, schedules and goals depend only on the seed, `--clients`
and `--now`, so datasets made with different `--completions` hold the same people and
differ only in how many completions each client has. Rows go in in time order, as a live
database would have stored them (ids are UUIDv7 of their creation time). A `bench_manifest`
table, written last, records what was generated (read by `bench.run` and the benchmarks).
"""

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from array import array
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from bench.common import CLIENTS, MANIFEST_TABLE, plain_dsn, split_url

GENERATOR_VERSION = 1
DEFAULT_SEED = 20261125
PASSWORD = "bench-password-1"
CLIENTS_PER_THERAPIST = 200
EPISODE_MAX_AGE_DAYS = 730

# Weighted: most clients in North America and Europe, and every awkward offset at least once.
ZONES = [
    ("America/New_York", 14), ("America/Chicago", 8), ("America/Denver", 4),
    ("America/Los_Angeles", 10), ("America/Phoenix", 2), ("America/Anchorage", 1),
    ("Pacific/Honolulu", 1), ("America/Toronto", 3), ("America/Mexico_City", 2),
    ("America/Sao_Paulo", 3), ("America/Argentina/Buenos_Aires", 1), ("America/St_Johns", 1),
    ("Europe/London", 8), ("Europe/Berlin", 8), ("Europe/Paris", 4), ("Europe/Madrid", 2),
    ("Europe/Helsinki", 1), ("Europe/Istanbul", 1), ("Africa/Johannesburg", 1),
    ("Africa/Lagos", 1), ("Asia/Dubai", 1), ("Asia/Kolkata", 3), ("Asia/Kathmandu", 1),
    ("Asia/Singapore", 2), ("Asia/Shanghai", 1), ("Asia/Tokyo", 2), ("Australia/Sydney", 3),
    ("Australia/Adelaide", 1), ("Australia/Perth", 1), ("Pacific/Auckland", 2),
    ("Pacific/Chatham", 1), ("Pacific/Kiritimati", 1), ("Pacific/Pago_Pago", 1), ("UTC", 1),
]  # fmt: skip
CLINICS = [
    ("Bench Clinic North", "America/New_York", 0.7),
    ("Bench Clinic South", "Europe/Berlin", 0.3),
]
WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
SKIP_REASONS = [("no_time", 35), ("low_motivation", 25), ("forgot", 20),
                ("too_uncomfortable", 10), ("unclear", 5), ("other", 5)]  # fmt: skip
SKIP_NOTES = ["Busy week at work.", "Kids were sick.", "Didn't feel up to it.", "Travelling."]
NOTES = [
    "Easier than last time.",
    "Caught the thought earlier today.",
    "Hard to find evidence against it.",
    "Did it right after the argument, which helped.",
    "Felt silly at first but it worked.",
]
GOALS = [
    ("Start the workday calmer", "Mornings set the tone; I want to stop dreading them."),
    ("Sleep through the night", "I am exhausted and short with everyone."),
    ("Speak up in meetings", "My ideas get lost because I never say them."),
    ("Get back to running", "It used to be the one thing that cleared my head."),
    ("Spend less time worrying about money", "The worry costs more than the bills."),
]
STEPS = [
    "Notice the first worried thought of the day",
    "Breathe before opening email",
    "Write down one thing that went fine",
    "Tell one person how I really feel",
    "Do the practice three days in a row",
]

# (slug, title, rule, times, reminders, instructions); the PHQ-9's weekday is the client's own.
THOUGHT = "thought-record"
BREATHING = "breathing-exercise"
PHQ9 = "phq-9"
PLANS = {
    THOUGHT: (
        "FREQ=DAILY",
        [],
        {"minutes_before": [], "untimed_at": "19:00"},
        "Pick one moment today when your mood dropped and walk it through the record.",
    ),
    BREATHING: (
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        ["08:00"],
        {"minutes_before": [10], "untimed_at": None},
        "Box breathing before you start work: four rounds is enough.",
    ),
    PHQ9: (
        None,  # FREQ=WEEKLY;BYDAY=<client's day>
        [],
        {"minutes_before": [], "untimed_at": "10:00"},
        "A short weekly check-in so we can see how things are moving.",
    ),
}
BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)

COMPLETION_COLUMNS = (
    "id", "clinic_id", "client_id", "assignment_id", "template_id", "template_version_id",
    "template_version", "template_kind", "occurrence_date", "occurrence_time", "status",
    "completed_at", "responses", "mood_before", "mood_after", "discomfort", "duration_minutes",
    "note", "wants_to_discuss", "skip_reason", "skip_note", "score", "risk", "score_total",
    "score_band", "reviewed_at", "reviewed_by_id", "recorded_by_id", "request_hash",
    "created_at", "updated_at", "version",
)  # fmt: skip
_CREATED_AT = COMPLETION_COLUMNS.index("created_at")

# The columns each generator writes of these tables (COPY), shared by the dataset's clients and
# the long-history client.
GOAL_COLUMNS = (
    "id", "clinic_id", "client_id", "title", "description", "why", "target_date", "status",
    "achieved_at", "created_by_id", "created_at", "updated_at", "version",
)  # fmt: skip
STEP_COLUMNS = (
    "id", "clinic_id", "goal_id", "title", "done", "done_at", "position", "created_at",
    "updated_at", "version",
)  # fmt: skip
ASSIGNMENT_COLUMNS = (
    "id", "clinic_id", "client_id", "template_id", "template_version_id", "template_version",
    "template_kind", "title", "instructions", "goal_id", "estimated_minutes", "schedule",
    "reminders", "status", "first_date", "last_date", "ended_at", "created_by_id", "created_at",
    "updated_at", "version", "next_reminder_at",
)  # fmt: skip
SCHEDULE_COLUMNS = (
    "id", "clinic_id", "assignment_id", "schedule", "effective_from", "effective_to",
)  # fmt: skip


async def _copy_goals(conn: Any, world: Any) -> None:
    await _copy(conn, "goal", GOAL_COLUMNS, world.goals)
    await _copy(conn, "goal_step", STEP_COLUMNS, world.steps)


def log(message: str) -> None:
    print(message, flush=True)


def uuid7(at: datetime, rng: random.Random) -> uuid.UUID:
    """A UUIDv7 of instant `at` with seeded random bits (the app's ids are UUIDv7 too)."""
    ms = int(at.timestamp() * 1000) & ((1 << 48) - 1)
    return uuid.UUID(
        int=(ms << 80)
        | (0x7 << 76)
        | (rng.getrandbits(12) << 64)
        | (0b10 << 62)
        | rng.getrandbits(62)
    )


def local(day: date, at: dtime, zone: ZoneInfo) -> datetime:
    """A local wall-clock time as a UTC instant (no generated time falls into a DST gap)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def weekday_of(ordinal: int) -> int:
    return (ordinal - 1) % 7  # date.fromordinal(1) is a Monday


# --------------------------------------------------------------------------- the people


@dataclass
class Person:
    id: uuid.UUID
    clinic: int
    role: str
    email: str
    name: str
    tz: str
    created_at: datetime


@dataclass
class Client:
    index: int
    person: Person
    zone: ZoneInfo
    today: date
    start: date  # first day of the episode
    end: date  # last day of the episode (>= today while in treatment)
    ongoing: bool
    diligence: float
    phq_day: int  # weekday of the PHQ-9
    phq_start: float
    phq_slope: float  # points per week, positive = improving
    therapist: uuid.UUID | None = None
    pause: tuple[date, date] | None = None  # [first paused day, resume day)
    goal_id: uuid.UUID | None = None


@dataclass
class Plan:
    """One assignment and what its schedule yields."""

    index: int
    id: uuid.UUID
    client: Client
    slug: str
    rule: str
    times: list[str]
    byday: frozenset[int]  # weekdays it falls on
    start: date
    end_date: date | None  # in the schedule
    status: str
    ended_at: datetime | None
    created_at: datetime
    reminders: dict[str, Any]
    instructions: str
    goal_id: uuid.UUID | None = None
    next_reminder_at: datetime | None = None

    @property
    def timed(self) -> bool:
        return bool(self.times)

    def last_day(self) -> date | None:
        """Last local date with a real occurrence (end_date, or the day before ended_at)."""
        if self.end_date is not None:
            return self.end_date
        if self.ended_at is not None:
            return self.client.end
        return None

    def schedule(self) -> dict[str, Any]:
        return {
            "start_date": self.start.isoformat(),
            "end_date": self.end_date.isoformat() if self.end_date else None,
            "count": None,
            "rrule": self.rule,
            "times": self.times,
            "timezone": self.client.person.tz,
        }

    def days(self, until: date) -> list[int]:
        """Ordinals of the local dates with an unsuspended occurrence, start..until."""
        last = self.last_day()
        high = (min(until, last) if last else until).toordinal()
        low = self.start.toordinal()
        if len(self.byday) == 7:
            found = list(range(low, high + 1))
        elif len(self.byday) == 1:
            (day,) = self.byday
            first = low + (day - weekday_of(low)) % 7
            found = list(range(first, high + 1, 7))
        else:
            found = [o for o in range(low, high + 1) if weekday_of(o) in self.byday]
        if self.client.pause:
            paused, resumed = (d.toordinal() for d in self.client.pause)
            # Suspended when due_at is in [paused_at, resumed_at), both local midnights: a timed
            # occurrence is due on its day, an untimed one at the midnight that ends it.
            if self.timed:
                found = [o for o in found if not paused <= o < resumed]
            else:
                found = [o for o in found if not paused <= o + 1 < resumed]
        return found

    def next_reminder(self, now: datetime) -> datetime | None:
        """What `refresh_next_reminder` stores, for active assignments (checked on a sample)."""
        if self.status != "active":
            return None
        zone = self.client.zone
        day = max(now.astimezone(zone).date() - timedelta(days=1), self.start)
        for _ in range(15):
            if weekday_of(day.toordinal()) in self.byday and (
                self.end_date is None or day <= self.end_date
            ):
                if self.timed:
                    due = local(day, dtime(8, 0), zone)
                    remind = due - timedelta(minutes=self.reminders["minutes_before"][0])
                    if due > now and remind > now:
                        return remind
                else:
                    at = dtime.fromisoformat(self.reminders["untimed_at"])
                    due = local(day + timedelta(days=1), dtime(0, 0), zone)
                    remind = local(day, at, zone)
                    if due > now and remind > now:
                        return remind
            day += timedelta(days=1)
        return None


@dataclass
class World:
    seed: int
    now: datetime
    clinics: list[tuple[uuid.UUID, str, str]] = field(default_factory=list)
    staff: list[Person] = field(default_factory=list)
    clients: list[Client] = field(default_factory=list)
    care_team: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, datetime]] = field(default_factory=list)
    external_ids: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str, str]] = field(
        default_factory=list
    )
    plans: list[Plan] = field(default_factory=list)
    goals: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    steps: list[tuple] = field(default_factory=list)  # type: ignore[type-arg]
    bench_therapist: uuid.UUID | None = None
    bench_clients: list[uuid.UUID] = field(default_factory=list)
    sample_clients: list[uuid.UUID] = field(default_factory=list)
    # Filled from the migrated database: slug -> (version id, number) of the pinned version.
    template_versions: dict[str, tuple[uuid.UUID, int]] = field(default_factory=dict)


def build_world(seed: int, n_clients: int, now: datetime) -> World:
    """Everything but the completions; depends only on (seed, n_clients, now)."""
    rng = random.Random(f"world:{seed}")
    world = World(seed=seed, now=now)
    zone_names = [z for z, _ in ZONES]
    zone_weights = [w for _, w in ZONES]
    long_ago = now - timedelta(days=EPISODE_MAX_AGE_DAYS + 120)
    for name, tz, _ in CLINICS:
        world.clinics.append((uuid7(long_ago, rng), name, tz))

    sizes = [round(n_clients * share) for *_, share in CLINICS]
    sizes[-1] = n_clients - sum(sizes[:-1])
    therapists: list[list[Person]] = []
    for c, (_, name, tz) in enumerate(world.clinics):
        slug = name.split()[-1].lower()
        world.staff.append(
            Person(
                uuid7(long_ago, rng),
                c,
                "admin",
                f"admin@{slug}.bench",
                f"{name} Admin",
                tz,
                long_ago,
            )
        )
        count = max(1, round(sizes[c] / CLIENTS_PER_THERAPIST))
        team = [
            Person(
                uuid7(long_ago, rng),
                c,
                "therapist",
                f"therapist{t:03d}@{slug}.bench",
                f"Therapist {slug.title()} {t:03d}",
                tz,
                long_ago,
            )
            for t in range(count)
        ]
        therapists.append(team)
        world.staff.extend(team)

    index = 0
    for c, size in enumerate(sizes):
        slug = world.clinics[c][1].split()[-1].lower()
        for _ in range(size):
            tz = rng.choices(zone_names, zone_weights)[0]
            zone = ZoneInfo(tz)
            today = now.astimezone(zone).date()
            age = rng.randint(1, EPISODE_MAX_AGE_DAYS)
            length = rng.randint(28, 365)
            start = today - timedelta(days=age)
            end = start + timedelta(days=length - 1)
            joined = local(start - timedelta(days=rng.randint(0, 14)), dtime(9, 30), zone)
            person = Person(
                uuid7(joined, rng),
                c,
                "client",
                f"client{index:05d}@{slug}.bench",
                f"Bench Client {index:05d}",
                tz,
                joined,
            )
            client = Client(
                index=index,
                person=person,
                zone=zone,
                today=today,
                start=start,
                end=end,
                ongoing=end >= today,
                diligence=rng.betavariate(2.2, 1.6),
                phq_day=rng.randrange(7),
                phq_start=rng.uniform(7, 23),
                phq_slope=rng.uniform(-0.1, 0.45),
            )
            if rng.random() < 0.05 and age > 30:
                first = start + timedelta(days=rng.randint(7, max(7, min(age, length) - 22)))
                client.pause = (first, first + timedelta(days=rng.randint(7, 21)))
            world.clients.append(client)
            index += 1

    # Care teams: the bench therapist (the first of the first clinic) takes 200 clients who
    # are in treatment now; everyone else goes to another therapist of their clinic.
    bench = therapists[0][0]
    world.bench_therapist = bench.id
    in_treatment = [cl for cl in world.clients if cl.person.clinic == 0 and cl.ongoing]
    picked = rng.sample(in_treatment, min(CLIENTS_PER_THERAPIST, len(in_treatment)))
    chosen = {cl.index for cl in picked}
    for cl in world.clients:
        team = therapists[cl.person.clinic]
        if cl.index in chosen:
            primary = bench
        else:
            others = team[1:] if cl.person.clinic == 0 and len(team) > 1 else team
            primary = others[rng.randrange(len(others))]
        cl.therapist = primary.id
        world.care_team.append(
            (cl.person.id, primary.id, world.clinics[cl.person.clinic][0], cl.person.created_at)
        )
        extra = [t for t in team if t is not primary and t is not bench]
        if extra and rng.random() < 0.10:
            second = extra[rng.randrange(len(extra))]
            world.care_team.append(
                (cl.person.id, second.id, world.clinics[cl.person.clinic][0], cl.person.created_at)
            )
        if rng.random() < 0.6:
            world.external_ids.append(
                (
                    uuid7(cl.person.created_at, rng),
                    world.clinics[cl.person.clinic][0],
                    cl.person.id,
                    "urn:ehr:mrn",
                    f"MRN-{100000 + cl.index}",
                )
            )
    world.bench_clients = sorted(
        (cl.person.id for cl in world.clients if cl.index in chosen), key=str
    )
    ongoing = [cl.person.id for cl in world.clients if cl.ongoing]
    world.sample_clients = rng.sample(ongoing, min(500, len(ongoing)))

    # Goals, then the assignments that serve them.
    for cl in world.clients:
        if rng.random() >= 0.3:
            continue
        created = local(cl.start, dtime(11, 0), cl.zone)
        goal_id = uuid7(created, rng)
        cl.goal_id = goal_id
        title, why = GOALS[rng.randrange(len(GOALS))]
        n_steps = rng.randint(3, 5)
        progress = min(1.0, (cl.today - cl.start).days / max(1, (cl.end - cl.start).days))
        if cl.ongoing:
            status, achieved_at = "active", None
        else:
            status = rng.choices(["achieved", "abandoned", "active"], [5, 2, 3])[0]
            achieved_at = local(cl.end, dtime(15, 0), cl.zone) if status == "achieved" else None
            progress = 1.0 if status == "achieved" else progress * rng.uniform(0.2, 0.9)
        done = min(n_steps, int(n_steps * progress + 0.5))
        updated = achieved_at or created
        world.goals.append(
            (
                goal_id,
                world.clinics[cl.person.clinic][0],
                cl.person.id,
                title,
                "",
                why,
                cl.end if rng.random() < 0.5 else None,
                status,
                achieved_at,
                cl.therapist,
                created,
                updated,
                1 if status == "active" else 2,
            )
        )
        for pos in range(n_steps):
            done_at = None
            if pos < done:
                span = max(1, (min(cl.end, cl.today) - cl.start).days)
                done_at = local(
                    cl.start + timedelta(days=span * (pos + 1) // (n_steps + 1)),
                    dtime(18, 0),
                    cl.zone,
                )
                done_at = min(done_at, now - timedelta(minutes=5))
            world.steps.append(
                (
                    uuid7(created, rng),
                    world.clinics[cl.person.clinic][0],
                    goal_id,
                    STEPS[(pos + cl.index) % len(STEPS)],
                    done_at is not None,
                    done_at,
                    pos,
                    created,
                    done_at or created,
                    2 if done_at else 1,
                )
            )

    for cl in world.clients:
        ended = not cl.ongoing
        by_end_date = ended and rng.random() < 0.5
        status = "active" if not ended else ("cancelled" if rng.random() < 0.15 else "completed")
        slugs = [THOUGHT, BREATHING, PHQ9] if rng.random() < 0.85 else [THOUGHT, PHQ9]
        for slug in slugs:
            rule, times, reminders, instructions = PLANS[slug]
            start = cl.start
            if slug == BREATHING:
                # Started a little later, but never after the episode ended.
                start = min(start + timedelta(days=rng.randint(0, 14)), cl.end)
            if slug == PHQ9:
                rule = f"FREQ=WEEKLY;BYDAY={WEEKDAYS[cl.phq_day]}"
                byday = frozenset({cl.phq_day})
            elif slug == BREATHING:
                byday = frozenset(range(5))
            else:
                byday = frozenset(range(7))
            end_date = cl.end if by_end_date else None
            ended_at = None
            if ended and not by_end_date:
                # The therapist closed it at the midnight after the episode's last day: the
                # last untimed occurrence (due at that midnight) still counts, the next day's
                # 08:00 does not.
                ended_at = local(cl.end + timedelta(days=1), dtime(0, 0), cl.zone)
            created = local(cl.start, dtime(10, rng.randint(0, 59)), cl.zone)
            plan = Plan(
                index=len(world.plans),
                id=uuid7(created, rng),
                client=cl,
                slug=slug,
                rule=rule,
                times=list(times),
                byday=byday,
                start=start,
                end_date=end_date,
                status=status,
                ended_at=ended_at,
                created_at=created,
                reminders=reminders,
                instructions=instructions,
                goal_id=cl.goal_id if slug in (THOUGHT, BREATHING) else None,
            )
            if ended and by_end_date:
                plan.ended_at = local(cl.end + timedelta(days=1), dtime(9, 0), cl.zone)
            plan.next_reminder_at = plan.next_reminder(now)
            world.plans.append(plan)
    return world


# --------------------------------------------------------------------------- completions


@dataclass
class Candidates:
    keys: array = field(default_factory=lambda: array("d"))
    plans: array = field(default_factory=lambda: array("i"))
    days: array = field(default_factory=lambda: array("i"))


def candidates(world: World) -> Candidates:
    """Every past occurrence with a key: the lower, the likelier the client did it. The keys
    depend only on the world, so a smaller dataset keeps a subset of a larger one's."""
    rng = random.Random(f"candidates:{world.seed}")
    found = Candidates()
    keys, plans, days = found.keys, found.plans, found.days
    for plan in world.plans:
        cl = plan.client
        yesterday = cl.today - timedelta(days=1)
        start = cl.start.toordinal()
        span = max(1, (cl.end - cl.start).days)
        weight = cl.diligence * (1.3 if plan.slug == PHQ9 else 1.0)
        for o in plan.days(yesterday):
            fading = 1.0 - 0.45 * min(1.0, (o - start) / span)
            weekend = 0.8 if weekday_of(o) >= 5 else 1.0
            keys.append(rng.random() / (weight * fading * weekend + 1e-9))
            plans.append(plan.index)
            days.append(o)
    return found


def select(found: Candidates, wanted: int) -> list[int]:
    """Positions of the `wanted` lowest keys (all of them when there are fewer)."""
    if wanted >= len(found.keys):
        return list(range(len(found.keys)))
    threshold = sorted(found.keys)[wanted - 1]
    chosen = [i for i, k in enumerate(found.keys) if k <= threshold]
    return chosen[:wanted]


class Answers:
    """Responses and scores, made and checked by the app's own validation and scoring."""

    def __init__(self) -> None:
        from app.templates.library import get_builtin
        from app.templates.scoring import score_responses
        from app.templates.validation import validate_responses

        def checked(slug: str, responses: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
            definition = get_builtin(slug).definition
            clean, errors = validate_responses(definition, responses)
            if errors:
                raise AssertionError(f"generated {slug} answers do not validate: {errors}")
            score = score_responses(definition, clean)
            return json.dumps(clean), score.model_dump(mode="json") if score else None

        example = get_builtin(THOUGHT).realistic_example
        variants = [
            example,
            {
                **example,
                "situation": "Friend cancelled dinner at the last minute.",
                "automatic_thoughts": "Nobody actually wants to see me.",
                "intensity_after": 40,
            },
            {
                **example,
                "situation": "Presentation moved up by a week.",
                "automatic_thoughts": "I will freeze and everyone will see it.",
                "intensity_after": 50,
            },
            {
                **example,
                "situation": "Partner was quiet all evening.",
                "automatic_thoughts": "I did something wrong again.",
                "intensity_after": 30,
            },
        ]
        self.thought = [checked(THOUGHT, v)[0] for v in variants]
        self.breathing = [
            checked(
                BREATHING,
                {"technique": t, "rounds": r, "calm_before": b, "calm_after": min(10, b + up)},
            )[0]
            for t in ("box", "four_seven_eight", "paced")
            for r in (4, 6, 8)
            for b in (2, 4, 6)
            for up in (0, 1, 2, 3)
        ]
        # PHQ-9 per (total, self-harm item answered): the total spread over items 1-8, item 9
        # at 1 (2 from 20 up) when flagged; totals above 24 need item 9.
        self.phq: dict[tuple[int, bool], tuple[str, str, int, str, bool]] = {}
        for total in range(28):
            for risk in (False, True):
                item9 = max((2 if total >= 20 else 1) if risk else 0, total - 24)
                if total > 24 and not risk:
                    continue
                if risk and total < item9:
                    continue
                rest = total - item9
                items = [rest // 8 + (1 if n < rest % 8 else 0) for n in range(8)] + [item9]
                responses = {f"item_{n}": v for n, v in enumerate(items, start=1)}
                responses["difficulty"] = min(3, total // 7)
                text, score = checked(PHQ9, responses)
                assert score is not None and score["total"] == total
                self.phq[(total, risk)] = (
                    text,
                    json.dumps(score),
                    total,
                    score["band"],
                    score["risk"],
                )

    def phq9(self, total: int, risk: bool) -> tuple[str, str, int, str, bool]:
        total = max(0, min(27, total))
        if total > 24:
            risk = True
        if total == 0:
            risk = False
        return self.phq[(total, risk)]


def completion_rows(world: World, found: Candidates, chosen: list[int], wanted: int) -> list[tuple]:  # type: ignore[type-arg]
    from app.templates.service import builtin_template_id

    rng = random.Random(f"completions:{world.seed}:{wanted}")
    answers = Answers()
    now = world.now
    template_ids = {slug: builtin_template_id(slug) for slug in PLANS}
    kinds = {THOUGHT: "cbt_worksheet", BREATHING: "mindfulness", PHQ9: "measure"}
    reasons = [r for r, _ in SKIP_REASONS]
    reason_weights = [w for _, w in SKIP_REASONS]
    eight = dtime(8, 0)
    rows = []
    for i in chosen:
        plan = world.plans[found.plans[i]]
        o = found.days[i]
        cl = plan.client
        zone = cl.zone
        day = date.fromordinal(o)
        slug = plan.slug
        weeks = (o - cl.start.toordinal()) / 7
        progress = min(1.0, (o - cl.start.toordinal()) / max(1, (cl.end - cl.start).days))
        # When: after the 08:00 occurrence, or during its day (now and then the next morning).
        if plan.timed:
            completed_at = local(day, eight, zone) + timedelta(minutes=rng.randint(2, 55))
        elif rng.random() < 0.04 and (cl.today - day).days > 2:
            completed_at = local(
                day + timedelta(days=1), dtime(rng.randint(7, 9), rng.randint(0, 59)), zone
            )
        else:
            completed_at = local(day, dtime(rng.randint(7, 23), rng.randint(0, 59)), zone)
        created_at = completed_at + timedelta(seconds=rng.randint(1, 90))
        mood_before = mood_after = discomfort = note = skip_reason = skip_note = None
        score = score_total = score_band = None
        risk = wants = False
        skipped = rng.random() < (0.03 if slug == PHQ9 else 0.12 + 0.1 * progress)
        if skipped:
            status, responses = "skipped", "{}"
            skip_reason = rng.choices(reasons, reason_weights)[0]
            if rng.random() < 0.15:
                skip_note = SKIP_NOTES[rng.randrange(len(SKIP_NOTES))]
            minutes = None
        elif slug == PHQ9:
            status = "done"
            total = round(cl.phq_start - cl.phq_slope * weeks + rng.gauss(0, 2))
            flagged = rng.random() < (0.3 if total >= 15 else 0.1 if total >= 10 else 0.02)
            responses, score, score_total, score_band, risk = answers.phq9(total, flagged)
            minutes = rng.randint(2, 6)
        else:
            status = "done"
            if slug == THOUGHT:
                responses = answers.thought[rng.randrange(len(answers.thought))]
                minutes = rng.randint(5, 30)
                with_mood, with_discomfort = True, True
            else:
                responses = answers.breathing[rng.randrange(len(answers.breathing))]
                minutes = rng.randint(3, 12)
                with_mood, with_discomfort = rng.random() < 0.6, rng.random() < 0.4
            if with_mood:
                mood_before = rng.randint(1, 6)
                mood_after = max(0, min(10, mood_before + rng.choice((-1, 0, 1, 1, 2, 2, 3, 4))))
            if with_discomfort:
                discomfort = max(0, min(100, round(72 - 35 * progress + rng.gauss(0, 12))))
            wants = rng.random() < 0.07
            if rng.random() < 0.12:
                note = NOTES[rng.randrange(len(NOTES))]
        age_days = (now - completed_at).total_seconds() / 86400
        reviewed_at = None
        if rng.random() < (0.93 if age_days > 7 else 0.6 if age_days > 2 else 0.2):
            reviewed_at = completed_at + timedelta(hours=rng.uniform(2, 96))
            if reviewed_at > now:
                reviewed_at = None
        recorded_by = cl.therapist if rng.random() < 0.01 else None
        rows.append(
            (
                uuid7(created_at, rng),
                world.clinics[cl.person.clinic][0],
                cl.person.id,
                plan.id,
                template_ids[slug],
                world.template_versions[slug][0],
                world.template_versions[slug][1],
                kinds[slug],
                day,
                "08:00" if plan.timed else None,
                status,
                completed_at,
                responses,
                mood_before,
                mood_after,
                discomfort,
                minutes,
                note,
                wants,
                skip_reason,
                skip_note,
                score,
                risk,
                score_total,
                score_band,
                reviewed_at,
                cl.therapist if reviewed_at else None,
                recorded_by,
                f"{rng.getrandbits(256):064x}",
                created_at,
                reviewed_at or created_at,
                2 if reviewed_at else 1,
            )
        )
    rows.sort(key=itemgetter(_CREATED_AT))
    return rows


# --------------------------------------------------------------------------- checks


def check_against_app(world: World, sample: int = 60) -> int:
    """Compare the generated occurrence days and next reminders with the app's own expansion
    (Timeline, as metrics and the agenda use it) for a sample of assignments."""
    from app.assignments.occurrences import Timeline
    from app.assignments.schedules import Reminders, ScheduleRead

    rng = random.Random(f"check:{world.seed}")
    paused = [p for p in world.plans if p.client.pause]
    ended = [p for p in world.plans if p.status != "active"]
    active = [p for p in world.plans if p.status == "active"]
    picks = (
        rng.sample(paused, min(len(paused), sample // 3))
        + rng.sample(ended, min(len(ended), sample // 3))
        + rng.sample(active, min(len(active), sample // 3))
    )
    for plan in picks:
        cl = plan.client
        pauses = []
        if cl.pause:
            pauses = [tuple(local(d, dtime(0, 0), cl.zone) for d in cl.pause)]
        timeline = Timeline(
            segments=[(ScheduleRead.model_validate(plan.schedule()), BEGINNING, None)],
            pauses=pauses,  # type: ignore[arg-type]
            ended_at=plan.ended_at if plan.status != "active" else None,
        )
        yesterday = cl.today - timedelta(days=1)
        if plan.start > yesterday:
            continue
        theirs = [
            (o.local_date.toordinal(), o.local_time.strftime("%H:%M") if o.local_time else None)
            for o in timeline.occurrences(plan.start, yesterday)
            if not o.suspended
        ]
        ours = [(o, "08:00" if plan.timed else None) for o in plan.days(yesterday)]
        if theirs != ours:
            raise AssertionError(
                f"occurrences of {plan.slug} for client {cl.index} differ from the app's: "
                f"{sorted(set(theirs) ^ set(ours))[:5]}"
            )
        if plan.status == "active":
            expected = timeline.next_reminder_at(
                Reminders.model_validate(plan.reminders), world.now
            )
            if expected != plan.next_reminder_at:
                raise AssertionError(
                    f"next reminder of {plan.slug} for client {cl.index}: app {expected}, "
                    f"generated {plan.next_reminder_at}"
                )
    return len(picks)


# --------------------------------------------------------------------------- loading


async def recreate_database(database_url: str) -> None:
    admin_dsn, name = split_url(database_url)
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def migrate(database_url: str) -> int:
    from app.cli import migrate_and_sync
    from app.core.config import Settings

    return migrate_and_sync(Settings(_env_file=None, database_url=database_url))  # type: ignore[call-arg]


async def _copy(conn: asyncpg.Connection, table: str, columns: tuple[str, ...], rows: list) -> None:  # type: ignore[type-arg]
    if rows:
        await conn.copy_records_to_table(table, records=rows, columns=list(columns))


async def _secondary_indexes(conn: asyncpg.Connection, table: str) -> tuple[list[str], list[str]]:
    """(statements that drop the table's unique constraints and non-key indexes, statements
    that make them again, exactly as the migrations made them)."""
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = $1::regclass AND contype = 'u'",
        table,
    )
    owned = {r["conname"] for r in constraints}
    pk = await conn.fetchval(
        "SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass AND contype = 'p'", table
    )
    indexes = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1",
        table,
    )
    drop = [f'ALTER TABLE "{table}" DROP CONSTRAINT "{r["conname"]}"' for r in constraints]
    make = [
        f'ALTER TABLE "{table}" ADD CONSTRAINT "{r["conname"]}" {r["def"]}' for r in constraints
    ]
    for r in indexes:
        if r["indexname"] in owned or r["indexname"] == pk:
            continue
        drop.append(f'DROP INDEX "{r["indexname"]}"')
        make.append(r["indexdef"])
    return drop, make


async def load(database_url: str, world: World, rows: list, wanted: int, timings: dict) -> None:  # type: ignore[type-arg]
    from app.core.passwords import hash_password

    dsn = plain_dsn(database_url)
    conn = await asyncpg.connect(dsn)
    t0 = time.perf_counter()
    try:
        await conn.execute("SET synchronous_commit = off")
        await conn.execute("SET maintenance_work_mem = '1GB'")
        try:
            # Rows are consistent by construction: skip the per-row foreign-key triggers.
            await conn.execute("SET session_replication_role = replica")
        except asyncpg.InsufficientPrivilegeError:
            log("  (not a superuser: foreign keys are checked row by row, which is slower)")
        drop, make = await _secondary_indexes(conn, "completion")
        password_hash = await hash_password(PASSWORD)
        async with conn.transaction():
            for statement in drop:
                await conn.execute(statement)
            await _copy(
                conn,
                "clinic",
                ("id", "name", "timezone", "created_at", "updated_at", "version"),
                [
                    (
                        cid,
                        name,
                        tz,
                        world.now - timedelta(days=900),
                        world.now - timedelta(days=900),
                        1,
                    )
                    for cid, name, tz in world.clinics
                ],
            )
            people = world.staff + [cl.person for cl in world.clients]
            await _copy(
                conn,
                "user",
                (
                    "id",
                    "clinic_id",
                    "role",
                    "email",
                    "email_normalized",
                    "display_name",
                    "timezone",
                    "status",
                    "password_hash",
                    "password_changed_at",
                    "created_at",
                    "updated_at",
                    "version",
                ),
                [
                    (
                        p.id,
                        world.clinics[p.clinic][0],
                        p.role,
                        p.email,
                        p.email.lower(),
                        p.name,
                        p.tz,
                        "active",
                        password_hash,
                        p.created_at,
                        p.created_at,
                        p.created_at,
                        1,
                    )
                    for p in people
                ],
            )
            await _copy(
                conn,
                "care_team_member",
                ("client_id", "therapist_id", "clinic_id", "created_at"),
                world.care_team,
            )
            await _copy(
                conn,
                "client_external_id",
                ("id", "clinic_id", "client_id", "system", "value"),
                world.external_ids,
            )
            await _copy_goals(conn, world)
            titles = {THOUGHT: "Thought record", BREATHING: "Breathing exercise", PHQ9: "PHQ-9"}
            minutes = {THOUGHT: 15, BREATHING: 5, PHQ9: 3}
            kinds = {THOUGHT: "cbt_worksheet", BREATHING: "mindfulness", PHQ9: "measure"}
            from app.templates.service import builtin_template_id

            assignments, schedules, pauses = [], [], []
            rng = random.Random(f"load:{world.seed}")
            for p in world.plans:
                cl = p.client
                schedule = json.dumps(p.schedule())
                updated = p.ended_at or p.created_at
                assignments.append(
                    (
                        p.id,
                        world.clinics[cl.person.clinic][0],
                        cl.person.id,
                        builtin_template_id(p.slug),
                        world.template_versions[p.slug][0],
                        world.template_versions[p.slug][1],
                        kinds[p.slug],
                        titles[p.slug],
                        p.instructions,
                        p.goal_id,
                        minutes[p.slug],
                        schedule,
                        json.dumps(p.reminders),
                        p.status,
                        p.start,
                        p.last_day() if p.end_date else None,
                        p.ended_at if p.status != "active" else None,
                        cl.therapist,
                        p.created_at,
                        updated,
                        1 if p.status == "active" else 2,
                        p.next_reminder_at,
                    )
                )
                clinic_id = world.clinics[cl.person.clinic][0]
                schedules.append(
                    (uuid7(p.created_at, rng), clinic_id, p.id, schedule, BEGINNING, None)
                )
                if cl.pause:
                    paused_at, resumed_at = (local(d, dtime(0, 0), cl.zone) for d in cl.pause)
                    pauses.append((uuid7(paused_at, rng), clinic_id, p.id, paused_at, resumed_at))
            await _copy(
                conn,
                "assignment",
                ASSIGNMENT_COLUMNS,
                assignments,
            )
            await _copy(
                conn,
                "assignment_schedule",
                SCHEDULE_COLUMNS,
                schedules,
            )
            await _copy(
                conn,
                "assignment_pause",
                ("id", "clinic_id", "assignment_id", "paused_at", "resumed_at"),
                pauses,
            )
            t1 = time.perf_counter()
            await _copy(conn, "completion", COMPLETION_COLUMNS, rows)
            timings["copy_completions_s"] = round(time.perf_counter() - t1, 2)
        timings["copy_s"] = round(time.perf_counter() - t0, 2)
    finally:
        await conn.close()

    # The completion indexes, two at a time (one connection per core).
    t0 = time.perf_counter()
    queue = list(make)

    async def builder() -> None:
        c = await asyncpg.connect(dsn)
        try:
            await c.execute("SET maintenance_work_mem = '512MB'")
            while queue:
                await c.execute(queue.pop(0))
        finally:
            await c.close()

    await asyncio.gather(builder(), builder())
    timings["indexes_s"] = round(time.perf_counter() - t0, 2)

    t0 = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        # What autovacuum would have done on a live database: statistics and visibility map.
        await conn.execute("VACUUM (ANALYZE)")
        timings["vacuum_analyze_s"] = round(time.perf_counter() - t0, 2)
    finally:
        await conn.close()


# --------------------------------------------------------------------------- the long history

# One client with two full years of homework (the progress report's benchmark case, issue 17:
# "a 2-year history client at 1M completions"); the generated episodes last a year at most.
# Made from its own seed, after everything else, so the rest of the world does not change.
LONG_EMAIL = "client-two-years@north.bench"
LONG_DAYS = 730
GAD7 = "gad-7"


def _gad7(total: int) -> tuple[str, str, int, str]:
    from app.templates.library import get_builtin
    from app.templates.scoring import score_responses
    from app.templates.validation import validate_responses

    total = max(0, min(21, total))
    items = [total // 7 + (1 if n < total % 7 else 0) for n in range(7)]
    definition = get_builtin(GAD7).definition
    clean, errors = validate_responses(
        definition, {f"item_{n}": v for n, v in enumerate(items, start=1)}
    )
    if errors:
        raise AssertionError(f"generated GAD-7 answers do not validate: {errors}")
    score = score_responses(definition, clean)
    assert score is not None and score.total == total
    return json.dumps(clean), score.model_dump_json(), total, str(score.band)


async def add_long_history_client(database_url: str, seed: int, now: datetime) -> dict[str, Any]:
    """Insert the two-year client into a generated dataset unless it is there; returns what
    the manifest records of it (`long_history_client`) and the rows added per table."""
    from app.completions.achievements import KIND_TITLES
    from app.templates.service import builtin_template_id

    dsn = plain_dsn(database_url)
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetchval('SELECT id FROM "user" WHERE email = $1', LONG_EMAIL)
        if found is not None:
            raise SystemExit(f"{LONG_EMAIL} is there already")
        clinic_id, clinic_name, clinic_tz = await conn.fetchrow(
            "SELECT id, name, timezone FROM clinic ORDER BY name LIMIT 1"
        )
        # A therapist of the first clinic other than the benchmarked caseload's (that one when
        # a small dataset has no other).
        therapists = await conn.fetch(
            """SELECT id FROM "user" WHERE clinic_id = $1 AND role = 'therapist'
               ORDER BY email LIMIT 2""",
            clinic_id,
        )
        therapist = therapists[-1]["id"]
        versions = {}
        for slug in [*PLANS, GAD7]:
            versions[slug] = tuple(
                await conn.fetchrow(
                    "SELECT v.id, v.number FROM template t JOIN template_version v "
                    "ON v.template_id = t.id AND v.number = t.version WHERE t.id = $1",
                    builtin_template_id(slug),
                )
            )
        password_hash = await conn.fetchval(
            """SELECT password_hash FROM "user" WHERE role = 'client' ORDER BY email LIMIT 1"""
        )
    finally:
        await conn.close()

    rng = random.Random(f"long-history:{seed}")
    tz = "America/Chicago"
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    start = today - timedelta(days=LONG_DAYS - 1)
    joined = local(start - timedelta(days=3), dtime(9, 30), zone)
    person = Person(uuid7(joined, rng), 0, "client", LONG_EMAIL, "Two-Year Client", tz, joined)
    client = Client(
        index=CLIENTS,
        person=person,
        zone=zone,
        today=today,
        start=start,
        end=today + timedelta(days=90),
        ongoing=True,
        diligence=0.9,
        phq_day=0,  # Mondays
        phq_start=19.0,
        phq_slope=0.1,  # 19 (moderately severe) to about 9 (mild) in two years
        therapist=therapist,
    )
    world = World(seed=seed, now=now, clinics=[(clinic_id, clinic_name, clinic_tz)])
    world.template_versions = {slug: versions[slug] for slug in PLANS}
    world.clients.append(client)
    # Two goals: one reached in the first year, one under way.
    goals = [
        (GOALS[0], start, 4, "achieved", start + timedelta(days=300)),
        (GOALS[3], start + timedelta(days=320), 5, "active", None),
    ]
    for (title, why), created_on, n_steps, status, achieved_on in goals:
        created = local(created_on, dtime(11, 0), zone)
        goal_id = uuid7(created, rng)
        client.goal_id = goal_id  # the later goal is the one the practices serve
        achieved_at = local(achieved_on, dtime(15, 0), zone) if achieved_on else None
        done = n_steps if status == "achieved" else 2
        world.goals.append(
            (goal_id, clinic_id, person.id, title, "", why, None, status, achieved_at,
             therapist, created, achieved_at or created, 2 if achieved_at else 1)
        )  # fmt: skip
        for pos in range(n_steps):
            done_at = (
                local(created_on + timedelta(days=30 * (pos + 1)), dtime(18, 0), zone)
                if pos < done
                else None
            )
            world.steps.append(
                (uuid7(created, rng), clinic_id, goal_id, STEPS[pos], done_at is not None,
                 done_at, pos, created, done_at or created, 2 if done_at else 1)
            )  # fmt: skip
    plans = [
        (THOUGHT, "FREQ=DAILY", frozenset(range(7)), []),
        (BREATHING, PLANS[BREATHING][0], frozenset(range(5)), ["08:00"]),
        (PHQ9, "FREQ=WEEKLY;BYDAY=MO", frozenset({0}), []),
        (GAD7, "FREQ=WEEKLY;BYDAY=TH", frozenset({3}), []),
    ]
    for slug, rule, byday, times in plans:
        _, _, reminders, instructions = PLANS[PHQ9 if slug == GAD7 else slug]
        created = local(start, dtime(10, rng.randint(0, 59)), zone)
        plan = Plan(
            index=len(world.plans),
            id=uuid7(created, rng),
            client=client,
            slug=slug,
            rule=rule,
            times=list(times),
            byday=byday,
            start=start,
            end_date=None,
            status="active",
            ended_at=None,
            created_at=created,
            reminders=reminders,
            instructions=instructions,
            goal_id=client.goal_id if slug in (THOUGHT, BREATHING) else None,
        )
        plan.next_reminder_at = plan.next_reminder(now)
        world.plans.append(plan)

    # The practices and the PHQ-9 as the generator makes them (about 85 % done or skipped),
    # then the GAD-7's answers, 16 (severe) falling to about 6 (mild).
    practised = World(seed=seed, now=now, clinics=world.clinics, clients=world.clients)
    practised.plans = [p for p in world.plans if p.slug != GAD7]
    practised.template_versions = world.template_versions
    found = candidates(practised)
    rows = completion_rows(practised, found, select(found, len(found.keys) * 85 // 100), -1)
    gad = next(p for p in world.plans if p.slug == GAD7)
    for o in gad.days(today - timedelta(days=1)):
        if rng.random() < 0.12:
            continue
        day = date.fromordinal(o)
        completed_at = local(day, dtime(rng.randint(8, 21), rng.randint(0, 59)), zone)
        created_at = completed_at + timedelta(seconds=rng.randint(1, 90))
        weeks = (o - start.toordinal()) / 7
        responses, score, total, band = _gad7(round(16 - 0.1 * weeks + rng.gauss(0, 1.5)))
        reviewed_at = completed_at + timedelta(hours=rng.uniform(2, 96))
        reviewed_at = reviewed_at if reviewed_at < now else None
        rows.append(
            (uuid7(created_at, rng), clinic_id, person.id, gad.id, builtin_template_id(GAD7),
             versions[GAD7][0], versions[GAD7][1], "measure", day, None, "done", completed_at,
             responses, None, None, None, rng.randint(1, 4), None, False, None, None, score,
             False, total, band, reviewed_at, therapist if reviewed_at else None, None,
             f"{rng.getrandbits(256):064x}", created_at, reviewed_at or created_at,
             2 if reviewed_at else 1)
        )  # fmt: skip
    rows.sort(key=itemgetter(_CREATED_AT))

    # Achievements as the app awards them: the first completion, the first of each kind, and
    # each time a measure moves down a severity band.
    achievements = []
    band_order = {
        PHQ9: ["minimal", "mild", "moderate", "moderately_severe", "severe"],
        GAD7: ["minimal", "mild", "moderate", "severe"],
    }
    labels = {"moderately_severe": "Moderately severe"}
    slug_of = {builtin_template_id(s): s for s in [*PLANS, GAD7]}
    last_band: dict[str, str] = {}
    seen: set[str] = set()
    for row in sorted(rows, key=itemgetter(11)):
        if row[10] != "done":
            continue
        completion_id, kind, slug, at = row[0], row[7], slug_of[row[4]], row[11]
        keys = []
        if "first_completion" not in seen:
            keys.append(("first_completion", "first_completion", "First homework done"))
        if f"first_of_kind:{kind}" not in seen:
            keys.append(("first_of_kind", f"first_of_kind:{kind}", KIND_TITLES[kind]))
        band = row[24]
        if band is not None:
            before = last_band.get(slug)
            if before is not None and band_order[slug].index(band) < band_order[slug].index(before):
                name = {PHQ9: "PHQ-9", GAD7: "GAD-7"}[slug]
                keys.append(
                    ("measure_improved", f"measure_improved:{completion_id}",
                     f"{name}: from {labels.get(before, before.title())} to "
                     f"{labels.get(band, band.title())}")
                )  # fmt: skip
            last_band[slug] = band
        for type_, key, title in keys:
            seen.add(key)
            achievements.append(
                (uuid7(at, rng), clinic_id, person.id, type_, key, title, "completion",
                 completion_id, at, at, at)
            )  # fmt: skip

    titles = {
        THOUGHT: "Thought record",
        BREATHING: "Breathing exercise",
        PHQ9: "PHQ-9",
        GAD7: "GAD-7",
    }
    minutes = {THOUGHT: 15, BREATHING: 5, PHQ9: 3, GAD7: 2}
    kinds = {THOUGHT: "cbt_worksheet", BREATHING: "mindfulness", PHQ9: "measure", GAD7: "measure"}
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await _copy(conn, "user", (
                "id", "clinic_id", "role", "email", "email_normalized", "display_name",
                "timezone", "status", "password_hash", "password_changed_at", "created_at",
                "updated_at", "version"), [
                (person.id, clinic_id, "client", LONG_EMAIL, LONG_EMAIL, person.name, tz,
                 "active", password_hash, joined, joined, joined, 1)
            ])  # fmt: skip
            await _copy(
                conn,
                "care_team_member",
                ("client_id", "therapist_id", "clinic_id", "created_at"),
                [(person.id, therapist, clinic_id, joined)],
            )
            await _copy_goals(conn, world)
            await _copy(
                conn,
                "assignment",
                ASSIGNMENT_COLUMNS,
                [
                    (p.id, clinic_id, person.id, builtin_template_id(p.slug), versions[p.slug][0],
                     versions[p.slug][1], kinds[p.slug], titles[p.slug], p.instructions,
                     p.goal_id, minutes[p.slug], json.dumps(p.schedule()),
                     json.dumps(p.reminders), "active", p.start, None, None, therapist,
                     p.created_at, p.created_at, 1, p.next_reminder_at)
                    for p in world.plans
                ],
            )  # fmt: skip
            await _copy(
                conn,
                "assignment_schedule",
                SCHEDULE_COLUMNS,
                [
                    (uuid7(p.created_at, rng), clinic_id, p.id, json.dumps(p.schedule()),
                     BEGINNING, None)
                    for p in world.plans
                ],
            )  # fmt: skip
            await _copy(conn, "completion", COMPLETION_COLUMNS, rows)
            await _copy(
                conn,
                "achievement",
                ("id", "clinic_id", "client_id", "type", "key", "title", "refers_to_type",
                 "refers_to_id", "earned_at", "created_at", "updated_at"),
                achievements,
            )  # fmt: skip
        for table in ("completion", "assignment", "achievement", "goal", "goal_step"):
            await conn.execute(f"VACUUM (ANALYZE) {table}")
    finally:
        await conn.close()
    days = [r[8] for r in rows]
    return {
        "long_history_client": {
            "id": str(person.id),
            "email": LONG_EMAIL,
            "timezone": tz,
            "first": min(days).isoformat(),
            "last": max(days).isoformat(),
            "completions": len(rows),
            "therapist_id": str(therapist),
        },
        "added": {
            "user": 1,
            "assignment": len(world.plans),
            "assignment_schedule": len(world.plans),
            "completion": len(rows),
            "goal": len(world.goals),
            "goal_step": len(world.steps),
        },
    }


async def ensure_long_history_client(database_url: str) -> dict[str, Any]:
    """The dataset's two-year client, inserted when a dataset made before it existed lacks it
    (the manifest's counts are brought up to date, so `bench.run` still finds it current)."""
    from bench.common import read_manifest

    manifest = await read_manifest(database_url)
    if manifest is None:
        raise SystemExit(f"{database_url}: no dataset; run `python -m bench.run` first")
    if "long_history_client" in manifest:
        return dict(manifest["long_history_client"])
    log("adding the two-year client to the dataset")
    now = datetime.fromisoformat(manifest["now"]).astimezone(UTC)
    made = await add_long_history_client(database_url, manifest["seed"], now)
    counts = dict(manifest["counts"])
    for table, n in made["added"].items():
        counts[table] += n
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await conn.executemany(
            f"INSERT INTO {MANIFEST_TABLE} (key, value) VALUES ($1, $2) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [
                ("counts", json.dumps(counts)),
                ("long_history_client", json.dumps(made["long_history_client"])),
            ],
        )
    finally:
        await conn.close()
    return dict(made["long_history_client"])


async def template_versions(database_url: str) -> dict[str, tuple[uuid.UUID, int]]:
    """The latest published version of each built-in the plans use (what an assignment pins)."""
    from app.templates.service import builtin_template_id

    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        found = {}
        for slug in PLANS:
            row = await conn.fetchrow(
                "SELECT v.id, v.number FROM template t JOIN template_version v "
                "ON v.template_id = t.id AND v.number = t.version WHERE t.id = $1",
                builtin_template_id(slug),
            )
            if row is None:
                raise SystemExit(f"built-in template {slug} is missing after the migration")
            found[slug] = (row["id"], row["number"])
        return found
    finally:
        await conn.close()


async def write_manifest(database_url: str, manifest: dict[str, Any]) -> None:
    conn = await asyncpg.connect(plain_dsn(database_url))
    try:
        await conn.execute(
            f"CREATE TABLE {MANIFEST_TABLE} (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        await conn.executemany(
            f"INSERT INTO {MANIFEST_TABLE} (key, value) VALUES ($1, $2)",
            [(k, json.dumps(v, default=str)) for k, v in manifest.items()],
        )
    finally:
        await conn.close()


def generate(
    database_url: str, completions: int, clients: int, seed: int, now: datetime
) -> dict[str, Any]:
    """Make one dataset; returns its manifest."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    _, name = split_url(database_url)
    log(
        f"[{name}] {clients} clients, {completions} completions, seed {seed}, now {now.isoformat()}"
    )

    t = time.perf_counter()
    asyncio.run(recreate_database(database_url))
    migrate(database_url)
    timings["create_migrate_s"] = round(time.perf_counter() - t, 2)

    t = time.perf_counter()
    world = build_world(seed, clients, now)
    world.template_versions = asyncio.run(template_versions(database_url))
    checked = check_against_app(world)
    found = candidates(world)
    chosen = select(found, completions)
    if len(chosen) < completions:
        log(f"  only {len(chosen)} past occurrences exist; loading all of them")
    rows = completion_rows(world, found, chosen, completions)
    timings["build_s"] = round(time.perf_counter() - t, 2)
    log(
        f"  built {len(world.plans)} assignments, {len(found.keys)} past occurrences, "
        f"{len(rows)} completions in {timings['build_s']} s "
        f"(occurrences and reminders of {checked} assignments match the app's)"
    )

    asyncio.run(load(database_url, world, rows, completions, timings))
    long_history = asyncio.run(add_long_history_client(database_url, seed, now))
    timings["total_s"] = round(time.perf_counter() - started, 2)

    per_client = Counter(r[2] for r in rows)
    bench_ids = set(world.bench_clients)
    statuses = Counter(r[10] for r in rows)
    manifest: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "now": now.isoformat(),
        "clients": clients,
        "completions_requested": completions,
        "counts": {
            "clinic": len(world.clinics),
            "user": len(world.staff) + len(world.clients),
            "assignment": len(world.plans),
            "assignment_schedule": len(world.plans),
            "completion": len(rows),
            "goal": len(world.goals),
            "goal_step": len(world.steps),
        },
        "long_history_client": long_history["long_history_client"],
        "clients_in_treatment": sum(1 for cl in world.clients if cl.ongoing),
        "past_occurrences": len(found.keys),
        "done": statuses.get("done", 0),
        "skipped": statuses.get("skipped", 0),
        "completions_per_client_max": max(per_client.values(), default=0),
        "caseload_completions": sum(n for c, n in per_client.items() if c in bench_ids),
        "bench_clinic_id": str(world.clinics[0][0]),
        "bench_therapist_id": str(world.bench_therapist),
        "bench_clients": [str(c) for c in world.bench_clients],
        "sample_clients": [str(c) for c in world.sample_clients],
        "timings": timings,
    }
    for table, n in long_history["added"].items():
        manifest["counts"][table] += n
    asyncio.run(write_manifest(database_url, manifest))
    log(
        f"  loaded in {timings['total_s']} s (create+migrate {timings['create_migrate_s']}, "
        f"build {timings['build_s']}, copy {timings['copy_s']} of which completions "
        f"{timings['copy_completions_s']}, indexes {timings['indexes_s']}, "
        f"vacuum+analyze {timings['vacuum_analyze_s']})"
    )
    log(
        f"  {manifest['clients_in_treatment']} clients in treatment; "
        f"{manifest['done']} done, {manifest['skipped']} skipped; "
        f"the caseload's 200 clients hold {manifest['caseload_completions']} completions"
    )
    log(f"  bench therapist (200 clients): {world.bench_therapist}")
    log(f"  some of their clients: {', '.join(str(c) for c in world.bench_clients[:3])}")
    log(f"  sample clients in treatment: {', '.join(str(c) for c in world.sample_clients[:3])}")
    return manifest


def default_now() -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0)


def parse_now(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError("--now needs an offset, e.g. 2026-11-25T12:00:00Z")
    return parsed.astimezone(UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--database-url",
        required=True,
        help="postgresql+asyncpg://user@host:port/db (dropped and re-created)",
    )
    parser.add_argument("--completions", type=int, required=True)
    parser.add_argument("--clients", type=int, default=CLIENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--now",
        type=parse_now,
        default=None,
        help="the instant the data ends at (default: now, to the minute)",
    )
    args = parser.parse_args(argv)
    if args.completions < 0 or args.clients < 10:
        parser.error("--completions must be >= 0 and --clients >= 10")
    generate(
        args.database_url, args.completions, args.clients, args.seed, args.now or default_now()
    )


if __name__ == "__main__":
    sys.exit(main())
