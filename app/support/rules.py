"""The support rules as plain functions: a client's recent history in, the reasons that trip
(and the suggestion they point to) out. No database here, so every rule is tested alone."""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from app.completions.adherence import Counts
from app.completions.models import CompletionStatus, SkipReason
from app.support.schemas import Suggestion, SupportReason, SupportRule, SupportRulesFields

# The longest window a rule looks at: the last 7 local days and the 21 before them.
WINDOW_DAYS = 28
WEEK_DAYS = 7


@dataclass(frozen=True)
class Slot:
    """One occurrence: when it was due, its local date and what became of it (adherence's
    outcome: completed, skipped, missed, paused or pending)."""

    due_at: datetime
    local_date: date
    outcome: str
    today: date  # the local today of its assignment's zone


@dataclass(frozen=True)
class Answer:
    """What a completion said, of what the rules read."""

    occurrence_date: date
    status: CompletionStatus
    skip_reason: SkipReason | None
    discomfort: int | None
    wants_to_discuss: bool
    mood_before: int | None


@dataclass
class History:
    """A client's last WINDOW_DAYS local days: occurrences (any order) and completions."""

    today: date  # in the client's own zone
    slots: list[Slot] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)


def _run(slots: list[Slot]) -> list[Slot]:
    """The latest occurrences, newest last, that were all missed or skipped (paused ones and
    today's unanswered ones are passed over: they are neither)."""
    run: list[Slot] = []
    for slot in sorted(slots, key=lambda s: s.due_at, reverse=True):
        if slot.outcome in ("paused", "pending"):
            continue
        if slot.outcome not in ("missed", "skipped"):
            break
        run.append(slot)
    return run[::-1]


def _hard(answer: Answer, rules: SupportRulesFields) -> bool:
    if answer.status == CompletionStatus.skipped and answer.skip_reason in rules.hard_skip_reasons:
        return True
    return answer.discomfort is not None and answer.discomfort >= rules.discomfort_at_least


def adherence_split(slots: list[Slot]) -> tuple[Counts, Counts]:
    """Counts over the last 7 local days (today included) and over the 21 days before."""
    week, before = Counts(), Counts()
    for slot in slots:
        age = (slot.today - slot.local_date).days
        if age < WEEK_DAYS:
            week.add(slot.outcome)
        elif age < WINDOW_DAYS:
            before.add(slot.outcome)
    return week, before


def tripped(history: History, rules: SupportRulesFields) -> list[SupportReason]:
    """The reasons, one per rule that trips, in the rules' order."""
    reasons: list[SupportReason] = []
    if rules.missed_in_a_row is not None:
        run = _run(history.slots)
        if len(run) >= rules.missed_in_a_row:
            reasons.append(
                SupportReason(
                    rule=SupportRule.missed_in_a_row,
                    detail=f"{len(run)} occurrences in a row missed or skipped",
                    count=len(run),
                    since=run[0].local_date,
                )
            )
    if rules.hard_in_a_week is not None:
        first_day = history.today - timedelta(days=WEEK_DAYS - 1)
        hard = sorted(
            a.occurrence_date
            for a in history.answers
            if first_day <= a.occurrence_date <= history.today and _hard(a, rules)
        )
        if len(hard) >= rules.hard_in_a_week:
            reasons.append(
                SupportReason(
                    rule=SupportRule.hard_in_a_week,
                    detail=f"{len(hard)} completions within a week skipped as too hard "
                    f"or with discomfort of {rules.discomfort_at_least} or more",
                    count=len(hard),
                    since=hard[0],
                )
            )
    if rules.adherence_drop_below is not None:
        week, before = adherence_split(history.slots)
        if (
            before.effective >= rules.adherence_min_previous
            and week.effective > 0
            and before.rate
            and week.rate is not None
            and week.rate < rules.adherence_drop_below * before.rate
        ):
            reasons.append(
                SupportReason(
                    rule=SupportRule.adherence_drop,
                    detail=f"adherence {week.rate:.0%} over the last 7 days, "
                    f"{before.rate:.0%} over the 21 before",
                    since=history.today - timedelta(days=WEEK_DAYS - 1),
                    adherence_7d=week.rate,
                    adherence_previous_21d=before.rate,
                )
            )
    return reasons


# Skip reasons that say the homework is too much for the time or energy the client has.
_TOO_LONG = {SkipReason.no_time, SkipReason.low_motivation}
# Skip reasons that say the homework itself needs talking through.
_TO_DISCUSS = {SkipReason.too_uncomfortable, SkipReason.unclear}


def suggest(history: History, reasons: list[SupportReason]) -> Suggestion:
    """What to try, from what the client told us in the last week: discomfort, unclear
    homework, a wish to talk or low mood → discuss it in session; no time or motivation →
    a shorter variant; forgotten or silently missed occurrences → a different time of day."""
    first_day = history.today - timedelta(days=WEEK_DAYS - 1)
    recent = [a for a in history.answers if a.occurrence_date >= first_day]
    if any(r.rule == SupportRule.hard_in_a_week for r in reasons):
        return Suggestion.discuss_in_session
    moods = [a.mood_before for a in recent if a.mood_before is not None]
    if any(a.wants_to_discuss for a in recent) or (moods and sum(moods) / len(moods) <= 3):
        return Suggestion.discuss_in_session
    skips = Counter(a.skip_reason for a in recent if a.status == CompletionStatus.skipped)
    to_discuss = sum(skips[r] for r in _TO_DISCUSS)
    too_long = sum(skips[r] for r in _TOO_LONG)
    run = _run(history.slots)
    silent = sum(1 for s in run if s.outcome == "missed") + skips[SkipReason.forgot]
    if to_discuss and to_discuss >= max(too_long, silent):
        return Suggestion.discuss_in_session
    if too_long and too_long >= silent:
        return Suggestion.shorter_variant
    if silent:
        return Suggestion.different_time_of_day
    return Suggestion.discuss_in_session
