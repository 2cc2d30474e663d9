"""Built-in journaling exercises: reflective writing and a gratitude journal."""

from app.templates.library.builtin import BuiltinTemplate, builtin

REFLECTIVE_INSTRUCTIONS = """\
## Why this helps
Writing things down gives thoughts and feelings somewhere to go. It can show you patterns
you would not notice otherwise: what sets you off, what steadies you, what you keep coming
back to. Nobody is grading this; it is a private space to think on paper.

## How to do it
1. **Start from the prompt** your therapist left for you. If there is none, pick one of
   these, or anything that has been on your mind:
   - What took up most of my energy this week?
   - When did I feel most like myself lately?
   - What am I avoiding, and what might it cost me?
2. **Write freely** for 10 to 15 minutes. Don't worry about spelling or sounding clever.
   If you get stuck, write "I don't know what to write" until something comes.
3. **Read it back once** and note anything you noticed about yourself: a feeling that
   surprised you, a belief that showed up, something you want to talk about.

## How long it takes
About 15 minutes. A quiet, regular time (after dinner, before bed) makes it easier to keep.

## If it feels too hard
Write a few lines instead of a page; a short entry still counts. If a topic brings up
more than you can handle alone, stop, ground yourself (notice five things you can see),
and tick "I want to talk about this" so we can pick it up together.
"""

GRATITUDE_INSTRUCTIONS = """\
## Why this helps
Our minds are built to notice what went wrong, which helped our ancestors survive but can
leave us seeing only the hard parts of a day. Deliberately noticing three good things,
and why they mattered, trains attention towards what is also true. Over a few weeks many
people find it lifts their mood and helps them sleep.

## How to do it
1. **Think back over the day** and pick three things that went well or that you were glad
   of. They can be small: a warm drink, a kind message, the bus arriving on time.
2. **Write each one down** in a few words.
3. **Add why it mattered** to you, or what part you played in it. This is where most of
   the benefit comes from.

## How long it takes
About 5 minutes, ideally in the evening.

## If it feels too hard
On a rough day, three things can feel like a lot. Tiny things are welcome ("I got out of
bed", "the rain stopped"). If nothing comes at all, that is worth noticing too: write what
made the day hard instead, and we will talk about it.
"""


def reflective_journal() -> BuiltinTemplate:
    return builtin(
        "reflective-journal",
        ("journaling", "reflection", "self-awareness"),
        {
            "kind": "journal",
            "title": "Reflective journal",
            "description": "Free writing from a prompt, then a look at what it shows you.",
            "instructions": REFLECTIVE_INSTRUCTIONS,
            "estimated_minutes": 15,
            "fields": [
                {
                    "type": "text",
                    "key": "prompt",
                    "label": "Today's prompt",
                    "help": "Your therapist may have filled this in. If not, choose your own.",
                    "max_length": 500,
                },
                {
                    "type": "long_text",
                    "key": "entry",
                    "label": "Your entry",
                    "max_length": 10000,
                    "required": True,
                },
                {
                    "type": "long_text",
                    "key": "noticed_about_myself",
                    "label": "What did you notice about yourself?",
                    "max_length": 2000,
                },
            ],
        },
        {
            "prompt": "When did I feel most like myself lately?",
            "entry": "Saturday morning at the allotment with Dad. We didn't talk much, just "
            "weeded and drank tea from the flask. I wasn't checking my phone or going over "
            "work in my head. I think it's the first time in weeks I didn't feel like I was "
            "behind on something.",
            "noticed_about_myself": "I feel more like me when I'm doing something with my "
            "hands and nobody is expecting anything from me.",
        },
    )


def gratitude_journal() -> BuiltinTemplate:
    return builtin(
        "gratitude-journal",
        ("journaling", "gratitude", "positive-psychology", "mood"),
        {
            "kind": "journal",
            "title": "Three good things",
            "description": "Note three things that went well today and why they mattered.",
            "instructions": GRATITUDE_INSTRUCTIONS,
            "estimated_minutes": 5,
            "fields": [
                {
                    "type": "group",
                    "key": "good_things",
                    "label": "Three good things",
                    "required": True,
                    "min_items": 3,
                    "max_items": 3,
                    "fields": [
                        {
                            "type": "text",
                            "key": "thing",
                            "label": "Something good",
                            "max_length": 300,
                            "required": True,
                        },
                        {
                            "type": "text",
                            "key": "why_it_mattered",
                            "label": "Why it mattered to me",
                            "max_length": 500,
                        },
                    ],
                }
            ],
        },
        {
            "good_things": [
                {
                    "thing": "My neighbour brought in my bins",
                    "why_it_mattered": "I felt looked out for.",
                },
                {
                    "thing": "Finished the chapter I've been stuck on",
                    "why_it_mattered": "I kept going even though I wanted to stop.",
                },
                {"thing": "Sunny walk at lunch"},
            ]
        },
    )
