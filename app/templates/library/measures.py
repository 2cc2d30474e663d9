"""Built-in standard measures: PHQ-9 (depression) and GAD-7 (anxiety), with published wording.

Both were developed by Drs. Robert L. Spitzer, Janet B.W. Williams, Kurt Kroenke and
colleagues with an educational grant from Pfizer Inc.; no permission is required to
reproduce, translate, display or distribute them. Item wording, answer labels, scoring and
cut-offs are the published ones and must not be edited: totals are only comparable with
the literature (and over time) if every client sees the same questions.
"""

from app.templates.library.builtin import BuiltinTemplate, builtin, options

PHQ9_STEM = (
    "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
)
PHQ9_ITEMS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — "
    "being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)
PHQ9_DIFFICULTY = (
    "If you checked off any problems, how difficult have these problems made it for you to do "
    "your work, take care of things at home, or get along with other people?"
)
GAD7_STEM = "Over the last 2 weeks, how often have you been bothered by the following problems?"
GAD7_ITEMS = (
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
)
FREQUENCY = options(
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
)
DIFFICULTY = options(
    (0, "Not difficult at all"),
    (1, "Somewhat difficult"),
    (2, "Very difficult"),
    (3, "Extremely difficult"),
)

_SAFETY = """\
If you are having thoughts that you would be better off dead or of hurting yourself, please
don't wait for your next session: contact your therapist, call your local emergency number,
or reach a crisis line now. You deserve support straight away."""

PHQ9_INSTRUCTIONS = f"""\
**{PHQ9_STEM}**

## Why this helps
This short questionnaire (the PHQ-9) is used around the world to track how low mood is
affecting someone. Filling it in every few weeks lets us see together whether things are
changing, and whether our work is helping.

## How to do it
For each of the nine problems, choose how often it has bothered you **over the last 2
weeks**. Go with your first answer; there are no right or wrong ones. The last question,
about how difficult these problems have made everyday life, is optional.

## How long it takes
About 3 minutes.

## If it feels too hard
Some questions touch on painful things. If one is hard to answer, choose the option that
fits best and tick "I want to talk about this": we will go through your answers together.

{_SAFETY}
"""

GAD7_INSTRUCTIONS = f"""\
**{GAD7_STEM}**

## Why this helps
This short questionnaire (the GAD-7) is widely used to track how much worry and anxiety
are affecting someone. Filling it in every few weeks lets us see together whether things
are changing.

## How to do it
For each of the seven problems, choose how often it has bothered you **over the last 2
weeks**. Go with your first answer; there are no right or wrong ones.

## How long it takes
About 2 minutes.

## If it feels too hard
If a question is hard to answer, choose the closest option: we will talk it through
together. If anxiety feels overwhelming right now, try a few rounds of slow
breathing first, and contact your therapist if you need support before your next session.
"""


def _items(texts: tuple[str, ...]) -> list[dict]:
    return [
        {
            "type": "single_choice",
            "key": f"item_{n}",
            "label": text,
            "required": True,
            "options": FREQUENCY,
        }
        for n, text in enumerate(texts, start=1)
    ]


def _band(low: int, high: int, code: str, label: str) -> dict:
    return {"min": low, "max": high, "code": code, "label": label}


def phq9() -> BuiltinTemplate:
    return builtin(
        "phq-9",
        ("measure", "questionnaire", "screening", "depression"),
        {
            "kind": "measure",
            "title": "PHQ-9",
            "description": "Patient Health Questionnaire (PHQ-9): nine questions about low "
            "mood over the last 2 weeks.",
            "instructions": PHQ9_INSTRUCTIONS,
            "estimated_minutes": 3,
            "fields": [
                *_items(PHQ9_ITEMS),
                {
                    "type": "single_choice",
                    "key": "difficulty",
                    "label": PHQ9_DIFFICULTY,
                    "options": DIFFICULTY,
                },
            ],
            "scoring": {
                "method": "sum",
                "items": [f"item_{n}" for n in range(1, 10)],
                "bands": [
                    _band(0, 4, "minimal", "Minimal"),
                    _band(5, 9, "mild", "Mild"),
                    _band(10, 14, "moderate", "Moderate"),
                    _band(15, 19, "moderately_severe", "Moderately severe"),
                    _band(20, 27, "severe", "Severe"),
                ],
                # Any answer above "Not at all" on item 9 needs a clinician's eyes, whatever
                # the total.
                "risk_rules": [{"item": "item_9", "threshold": 1, "flag": "self_harm"}],
            },
        },
        {
            "item_1": 1,
            "item_2": 2,
            "item_3": 2,
            "item_4": 1,
            "item_5": 1,
            "item_6": 1,
            "item_7": 0,
            "item_8": 0,
            "item_9": 0,
            "difficulty": 1,
        },
    )


def gad7() -> BuiltinTemplate:
    return builtin(
        "gad-7",
        ("measure", "questionnaire", "screening", "anxiety"),
        {
            "kind": "measure",
            "title": "GAD-7",
            "description": "Generalized Anxiety Disorder scale (GAD-7): seven questions about "
            "worry and anxiety over the last 2 weeks.",
            "instructions": GAD7_INSTRUCTIONS,
            "estimated_minutes": 2,
            "fields": _items(GAD7_ITEMS),
            "scoring": {
                "method": "sum",
                "items": [f"item_{n}" for n in range(1, 8)],
                "bands": [
                    _band(0, 4, "minimal", "Minimal"),
                    _band(5, 9, "mild", "Mild"),
                    _band(10, 14, "moderate", "Moderate"),
                    _band(15, 21, "severe", "Severe"),
                ],
            },
        },
        {
            "item_1": 2,
            "item_2": 2,
            "item_3": 1,
            "item_4": 1,
            "item_5": 0,
            "item_6": 1,
            "item_7": 1,
        },
    )
