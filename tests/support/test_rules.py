"""The rules and suggestions alone, on hand-made histories (no database)."""

from datetime import UTC, date, datetime, timedelta

from app.completions.models import CompletionStatus, SkipReason
from app.support.rules import Answer, History, Slot, suggest, tripped
from app.support.schemas import Suggestion, SupportRulesFields

TODAY = date(2026, 12, 3)
RULES = SupportRulesFields()


def history(outcomes: list[str], answers: list[Answer] | None = None) -> History:
    """Daily occurrences ending yesterday, oldest first, with these outcomes."""
    slots = []
    for age, result in enumerate(reversed(outcomes), start=1):
        day = TODAY - timedelta(days=age)
        slots.append(
            Slot(datetime(day.year, day.month, day.day, 12, tzinfo=UTC), day, result, TODAY)
        )
    return History(today=TODAY, slots=slots, answers=answers or [])


def skipped(age: int, reason: SkipReason, **fields) -> Answer:
    values = {"discomfort": None, "wants_to_discuss": False, "mood_before": None} | fields
    return Answer(TODAY - timedelta(days=age), CompletionStatus.skipped, reason, **values)


def done(age: int, **fields) -> Answer:
    values = {"discomfort": None, "wants_to_discuss": False, "mood_before": None} | fields
    return Answer(TODAY - timedelta(days=age), CompletionStatus.done, None, **values)


def test_paused_and_pending_occurrences_neither_break_nor_extend_a_run():
    found = tripped(
        history(["completed", "missed", "paused", "skipped", "missed", "pending"]), RULES
    )
    assert [(r.rule, r.count) for r in found] == [("missed_in_a_row", 3)]


def test_a_rule_set_to_null_is_off():
    rules = RULES.model_copy(update={"missed_in_a_row": None})
    assert tripped(history(["missed"] * 5), rules) == []


def test_a_wish_to_discuss_points_to_the_session():
    found = history(["missed", "missed", "missed"], [done(5, wants_to_discuss=True)])
    assert suggest(found, tripped(found, RULES)) == Suggestion.discuss_in_session


def test_low_mood_points_to_the_session():
    found = history(["missed"] * 3, [done(5, mood_before=2), done(6, mood_before=3)])
    assert suggest(found, tripped(found, RULES)) == Suggestion.discuss_in_session


def test_unclear_homework_points_to_the_session():
    answers = [skipped(3, SkipReason.unclear), skipped(2, SkipReason.unclear)]
    found = history(["completed", "missed", "skipped", "skipped"], answers)
    assert suggest(found, tripped(found, RULES)) == Suggestion.discuss_in_session


def test_no_time_points_to_a_shorter_variant_and_forgetting_to_another_time():
    no_time = [skipped(n, SkipReason.no_time) for n in (1, 2, 3)]
    found = history(["skipped"] * 3, no_time)
    assert suggest(found, tripped(found, RULES)) == Suggestion.shorter_variant
    forgot = [skipped(n, SkipReason.forgot) for n in (1, 2, 3)]
    found = history(["skipped"] * 3, forgot)
    assert suggest(found, tripped(found, RULES)) == Suggestion.different_time_of_day
