"""The built-in programs every clinic starts with: steps over the built-in template library.

Plain JSON-shaped dicts, so that they go through exactly the checks a clinic's own program
does. Ids are the same in every installation (UUIDv5 of the slug), as built-in templates' are.
"""

import uuid
from dataclasses import dataclass
from typing import Any

from app.programs.schemas import ProgramPatch
from app.templates.service import BUILTIN_NAMESPACE, builtin_template_id


def builtin_program_id(slug: str) -> uuid.UUID:
    return uuid.uuid5(BUILTIN_NAMESPACE, f"program:{slug}")


def builtin_program_version_id(slug: str, number: int) -> uuid.UUID:
    return uuid.uuid5(BUILTIN_NAMESPACE, f"program:{slug}:{number}")


@dataclass(frozen=True)
class BuiltinProgram:
    slug: str
    fields: ProgramPatch  # title, description and steps (template versions not yet pinned)


def _step(template_slug: str, **rest: Any) -> dict[str, Any]:
    return {"template_id": str(builtin_template_id(template_slug)), **rest}


def low_mood() -> BuiltinProgram:
    return BuiltinProgram(
        slug="low-mood-six-weeks",
        fields=ProgramPatch.model_validate(
            {
                "title": "Low mood, six weeks",
                "description": (
                    "Behavioural activation first, then the thoughts that keep low mood going, "
                    "then what helps and how to keep it: an activity log, thought records, "
                    "spotting cognitive distortions, a gratitude journal, and a relapse-"
                    "prevention journal in the last week."
                ),
                "steps": [
                    _step(
                        "activity-log",
                        instructions=(
                            "Each evening, note what you did today and rate how much pleasure "
                            "and sense of achievement each activity gave you. Include small "
                            "things: a shower, a walk, a call. Five evenings out of seven open "
                            "the next step."
                        ),
                        schedule={"rrule": "FREQ=DAILY", "days": 7, "times": ["20:00"]},
                        release={"type": "immediately"},
                        completed_when={"type": "completions", "count": 5},
                    ),
                    _step(
                        "thought-record",
                        instructions=(
                            "When your mood drops, write down the situation, the thought that "
                            "went through your mind, and how strongly you believed it. Then look "
                            "for evidence for and against it. Aim for one record a day."
                        ),
                        schedule={"rrule": "FREQ=DAILY", "days": 14},
                        release={"type": "after_previous_completed"},
                        completed_when={"type": "completions", "count": 8},
                    ),
                    _step(
                        "cognitive-distortions",
                        instructions=(
                            "Take one of this week's thought records and check it against the "
                            "common thinking traps (all-or-nothing, mind reading, catastrophising"
                            "...). Which ones show up most often for you?"
                        ),
                        schedule={"rrule": "FREQ=WEEKLY;BYDAY=MO,WE,FR", "days": 7},
                        release={"type": "after_previous_completed"},
                        completed_when={"type": "completions", "count": 3},
                    ),
                    _step(
                        "gratitude-journal",
                        instructions=(
                            "Before bed, note three things that went well today, however small, "
                            "and what you did to make them happen."
                        ),
                        schedule={"rrule": "FREQ=DAILY", "days": 7, "times": ["21:30"]},
                        release={"type": "days_after_previous_completed", "days": 1},
                        completed_when={"type": "completions", "count": 5},
                        optional=True,
                    ),
                    _step(
                        "reflective-journal",
                        title="Relapse-prevention journal",
                        instructions=(
                            "Looking back over these six weeks: what were your early warning "
                            "signs of low mood? Which activities and ways of answering your "
                            "thoughts helped most? Write down your plan for the next time you "
                            "notice the signs, and who you could tell."
                        ),
                        schedule={"rrule": "FREQ=WEEKLY;BYDAY=MO,TH", "days": 7},
                        release={"type": "on_enrolment_day", "day": 36},
                    ),
                ],
            }
        ),
    )


def mindfulness() -> BuiltinProgram:
    return BuiltinProgram(
        slug="mindfulness-four-weeks",
        fields=ProgramPatch.model_validate(
            {
                "title": "Mindfulness, four weeks",
                "description": (
                    "From the breath to the body to everyday life: a week of short breathing "
                    "practices, two weeks of body scans, and a week of bringing mindful "
                    "attention to daily activities."
                ),
                "steps": [
                    _step(
                        "breathing-exercise",
                        instructions=(
                            "Each morning, five minutes of slow breathing before you check your "
                            "phone. When your mind wanders, notice where it went and come back."
                        ),
                        schedule={"rrule": "FREQ=DAILY", "days": 7, "times": ["08:00"]},
                        release={"type": "immediately"},
                        completed_when={"type": "completions", "count": 5},
                        ends_when_next_starts=True,
                    ),
                    _step(
                        "body-scan",
                        instructions=(
                            "Lying down in the evening, move your attention slowly from your "
                            "toes to the top of your head. There is nothing to change, only to "
                            "notice."
                        ),
                        schedule={"rrule": "FREQ=DAILY", "days": 14, "times": ["21:00"]},
                        release={"type": "on_enrolment_day", "day": 8},
                        completed_when={"type": "completions", "count": 10},
                        ends_when_next_starts=True,
                    ),
                    _step(
                        "mindfulness-practice",
                        title="Mindfulness of daily activities",
                        instructions=(
                            "Choose one routine activity each day (brushing your teeth, washing "
                            "up, walking to the bus) and do it with full attention to what you "
                            "see, hear, smell and feel."
                        ),
                        schedule={"rrule": "FREQ=DAILY", "days": 7},
                        release={"type": "on_enrolment_day", "day": 22},
                    ),
                ],
            }
        ),
    )


def builtin_programs() -> list[BuiltinProgram]:
    return [low_mood(), mindfulness()]
