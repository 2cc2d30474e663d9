"""The built-in template library every clinic starts with, in the order a picker shows it."""

from app.templates.library.builtin import BuiltinTemplate
from app.templates.library.cbt import activity_log, cognitive_distortions, thought_record
from app.templates.library.journal import gratitude_journal, reflective_journal
from app.templates.library.measures import gad7, phq9
from app.templates.library.mindfulness import body_scan, breathing_exercise, mindfulness_practice

__all__ = ["BUILTIN_SLUGS", "BuiltinTemplate", "builtin_templates", "get_builtin"]

_BUILDERS = (
    thought_record,
    cognitive_distortions,
    activity_log,
    reflective_journal,
    gratitude_journal,
    mindfulness_practice,
    breathing_exercise,
    body_scan,
    phq9,
    gad7,
)

BUILTIN_SLUGS: tuple[str, ...] = (
    "thought-record",
    "cognitive-distortions",
    "activity-log",
    "reflective-journal",
    "gratitude-journal",
    "mindfulness-practice",
    "breathing-exercise",
    "body-scan",
    "phq-9",
    "gad-7",
)


def builtin_templates() -> list[BuiltinTemplate]:
    """Every built-in template, freshly built, so that no caller can change another's copy."""
    return [build() for build in _BUILDERS]


def get_builtin(slug: str) -> BuiltinTemplate:
    """The built-in template with this slug; KeyError if there is none."""
    for template in builtin_templates():
        if template.slug == slug:
            return template
    raise KeyError(slug)
