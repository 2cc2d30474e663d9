"""Built-in mindfulness exercises: a practice log, a breathing exercise and a body scan."""

from app.templates.library.builtin import BuiltinTemplate, builtin, options, scale_0_10

PRACTICE_INSTRUCTIONS = """\
## Why this helps
Mindfulness means paying attention to what is happening right now, on purpose and without
judging it. Practised regularly, it makes it easier to notice a thought or feeling without
being swept away by it, and to choose what you do next.

## How to do it
1. **Choose a practice**: a guided meditation (any recording you like), a few minutes of
   breathing, a body scan, or an everyday activity done mindfully, such as washing up or
   drinking a cup of tea while paying full attention to it.
2. **Find a time and place** where you will not be interrupted for a few minutes.
3. **Practise.** Your mind will wander; that is what minds do. Each time you notice it has
   wandered, gently bring it back. The noticing *is* the practice.
4. **Afterwards, note** what you noticed and how you feel now.

## How long it takes
Start with 5 to 10 minutes. Regular short practice helps more than an occasional long one.

## If it feels too hard
If sitting still is hard, try the mindful daily activity: it counts just as much. If
paying attention inward brings up distressing memories or feelings, open your eyes, look
around the room, name a few things you can see, and let us know at your next session.
"""

BREATHING_INSTRUCTIONS = """\
## Why this helps
Slow, steady breathing tells your body it is safe. It calms the racing heart and
shallow breath that come with stress and anxiety, and you can use it anywhere, without
anyone noticing.

## How to do it
Sit or lie comfortably, rate how calm you feel, then pick one technique:
- **Box breathing**: breathe in for 4, hold for 4, out for 4, hold for 4. That is one round.
- **4-7-8 breathing**: breathe in through your nose for 4, hold for 7, breathe out slowly
  through your mouth for 8. That is one round.
- **Paced breathing**: breathe in for about 4 and out for about 6, slow and even, so the
  out-breath is longer than the in-breath. Each in-and-out is one round.

Count your rounds, then rate how calm you feel afterwards.

## How long it takes
About 5 minutes, or 8 to 10 rounds. It works best when practised while you are already
fairly calm, so it is ready when you need it.

## If it feels too hard
If holding your breath makes you light-headed or uneasy, skip the holds or switch to paced
breathing. Shorter counts are fine. Stop if you feel dizzy, breathe normally, and try again
later.
"""

BODY_SCAN_INSTRUCTIONS = """\
## Why this helps
Stress often settles in the body before we notice it in our thoughts: a tight jaw,
raised shoulders, a knot in the stomach. A body scan teaches you to notice these signals
early and to let some of the tension go.

## How to do it
1. **Lie down or sit** comfortably, and rate how calm you feel.
2. **Close your eyes** if that feels okay, and take a few slow breaths.
3. **Move your attention slowly** through your body, from your toes up to the top of your
   head. Spend a few breaths on each area and simply notice: warmth, pressure, tingling,
   tightness, or nothing at all.
4. **Where you find tension**, breathe into that area and let it soften a little on each
   out-breath. You do not have to make it go away.
5. **Afterwards**, note where you noticed tension and rate how calm you feel.

## How long it takes
10 to 20 minutes. A guided recording can help at first.

## If it feels too hard
Do a shorter scan: hands, shoulders and face only. If focusing on your body brings up pain
or difficult feelings, open your eyes, notice the room around you, and tell us about it at
your next session. Falling asleep is fine too; it just means you needed the rest.
"""

CALM_LOW, CALM_HIGH = "Not calm at all", "Completely calm"

BODY_AREAS = (
    ("head_face", "Head and face"),
    ("jaw", "Jaw"),
    ("neck_shoulders", "Neck and shoulders"),
    ("chest", "Chest"),
    ("upper_back", "Upper back"),
    ("lower_back", "Lower back"),
    ("stomach", "Stomach"),
    ("arms_hands", "Arms and hands"),
    ("hips", "Hips"),
    ("legs_feet", "Legs and feet"),
)


def mindfulness_practice() -> BuiltinTemplate:
    return builtin(
        "mindfulness-practice",
        ("mindfulness", "meditation", "attention"),
        {
            "kind": "mindfulness",
            "title": "Mindfulness practice",
            "description": "A short mindfulness practice of your choice, and what you noticed.",
            "instructions": PRACTICE_INSTRUCTIONS,
            "estimated_minutes": 10,
            "fields": [
                {
                    "type": "single_choice",
                    "key": "practice_type",
                    "label": "What did you practise?",
                    "required": True,
                    "options": options(
                        ("guided_meditation", "Guided meditation"),
                        ("breathing", "Breathing"),
                        ("body_scan", "Body scan"),
                        ("mindful_daily_activity", "Mindful daily activity"),
                    ),
                },
                {
                    "type": "duration_minutes",
                    "key": "minutes",
                    "label": "How many minutes?",
                    "required": True,
                },
                {
                    "type": "long_text",
                    "key": "noticed",
                    "label": "What did you notice?",
                    "max_length": 2000,
                },
                {
                    "type": "text",
                    "key": "feeling_now",
                    "label": "How do you feel now?",
                    "max_length": 500,
                },
            ],
        },
        {
            "practice_type": "mindful_daily_activity",
            "minutes": 10,
            "noticed": "Washing up: the warm water, the smell of the soap. My mind went to "
            "tomorrow's meeting three or four times and I brought it back.",
            "feeling_now": "A bit slower inside. Less rushed.",
        },
    )


def breathing_exercise() -> BuiltinTemplate:
    return builtin(
        "breathing-exercise",
        ("mindfulness", "breathing", "relaxation", "anxiety"),
        {
            "kind": "mindfulness",
            "title": "Breathing exercise",
            "description": "Calm your body with a few rounds of slow, steady breathing.",
            "instructions": BREATHING_INSTRUCTIONS,
            "estimated_minutes": 5,
            "fields": [
                {
                    "type": "single_choice",
                    "key": "technique",
                    "label": "Which technique did you use?",
                    "required": True,
                    "options": options(
                        ("box", "Box breathing (4-4-4-4)"),
                        ("four_seven_eight", "4-7-8 breathing"),
                        ("paced", "Paced breathing"),
                    ),
                },
                {
                    "type": "number",
                    "key": "rounds",
                    "label": "How many rounds?",
                    "min": 1,
                    "max": 100,
                    "step": 1,
                    "required": True,
                },
                scale_0_10("calm_before", "How calm before?", CALM_LOW, CALM_HIGH),
                scale_0_10("calm_after", "How calm after?", CALM_LOW, CALM_HIGH),
            ],
        },
        {"technique": "box", "rounds": 8, "calm_before": 3, "calm_after": 6},
    )


def body_scan() -> BuiltinTemplate:
    return builtin(
        "body-scan",
        ("mindfulness", "relaxation", "body-awareness", "sleep"),
        {
            "kind": "mindfulness",
            "title": "Body scan",
            "description": "Move your attention through your body and notice where you hold "
            "tension.",
            "instructions": BODY_SCAN_INSTRUCTIONS,
            "estimated_minutes": 15,
            "fields": [
                {
                    "type": "duration_minutes",
                    "key": "minutes",
                    "label": "How many minutes?",
                    "required": True,
                },
                {
                    "type": "multi_choice",
                    "key": "tension_areas",
                    "label": "Where did you notice tension?",
                    "help": "Leave empty if you didn't notice any.",
                    "options": options(*BODY_AREAS),
                },
                {
                    "type": "text",
                    "key": "tension_notes",
                    "label": "Anything else you noticed?",
                    "max_length": 1000,
                },
                scale_0_10("calm_before", "How calm before?", CALM_LOW, CALM_HIGH),
                scale_0_10("calm_after", "How calm after?", CALM_LOW, CALM_HIGH),
            ],
        },
        {
            "minutes": 15,
            "tension_areas": ["jaw", "neck_shoulders"],
            "tension_notes": "My jaw was clenched and I hadn't noticed. It eased when I "
            "breathed out slowly.",
            "calm_before": 4,
            "calm_after": 7,
        },
    )
