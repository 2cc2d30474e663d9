"""Built-in CBT worksheets (thought record, cognitive distortions) and the activity log."""

from app.templates.library.builtin import BuiltinTemplate, builtin, options, scale_0_10

THOUGHT_RECORD_INSTRUCTIONS = """\
## Why this helps
When something upsets us, the thoughts that flash through our mind in that moment can feel
like plain facts. A thought record slows the moment down so you can look at the thought,
see what it did to your feelings, and check whether it tells the whole story. With practice
this gets quicker, until you start doing it in your head as things happen.

## How to do it
1. **Pick one moment** from the last day or two when your mood dropped or a feeling hit hard.
2. **Describe the situation** in a sentence or two: where you were, who was there, what
   happened. Just the facts a camera would have caught.
3. **Write down the thoughts** that went through your mind, in the words you heard them.
   If there were several, mark the one that stung most.
4. **Name each feeling** (sad, anxious, angry, ashamed...) and rate how strong it was,
   from 0% (not at all) to 100% (the strongest you can imagine).
5. **Look at the evidence.** What supports the thought? What does not fit it? It can help to
   ask: *what would I say to a friend who had this thought?*
6. **Write a balanced thought** that takes all of the evidence into account. It does not
   have to be positive, only fairer and more complete.
7. **Re-rate** how strong the main feeling is now.

## How long it takes
About 15 minutes. It works best on the same day, while the moment is still fresh.

## If it feels too hard
It is fine to fill in only the situation, the thoughts and the feelings: noticing them is
the first skill, and we can look at the evidence together. If writing about the moment
stirs up more than you can manage right now, stop, do something calming, and bring it to
your next session. There are no wrong answers here.
"""

DISTORTIONS_INSTRUCTIONS = """\
## Why this helps
Our minds take shortcuts, especially under stress. Some shortcuts show up so often that
they have names. Spotting them in your own thinking makes an upsetting thought easier to
question, because you can see *how* it is bending the picture.

## How to do it
1. **Write down one thought** that has been bothering you, in your own words.
2. **Tick any thinking traps** that seem to fit. More than one often applies:
   - **All-or-nothing thinking**: seeing things as total success or total failure.
   - **Overgeneralization**: one bad event becomes "this always happens".
   - **Mental filter**: dwelling on one negative detail so it colours everything.
   - **Discounting the positive**: good things "don't count" for some reason.
   - **Mind reading**: being sure you know what others think of you.
   - **Fortune telling**: predicting things will turn out badly.
   - **Magnification/minimization**: blowing problems up, or shrinking your strengths.
   - **Emotional reasoning**: "I feel it, so it must be true."
   - **Should statements**: rigid rules about how you or others "should" be.
   - **Labeling**: "I'm a failure" instead of "I made a mistake".
   - **Personalization**: taking the blame for things that are not all yours.
   - **Blaming**: putting all the responsibility on someone else.
3. **Write a reframe**: a way of saying the thought that is fairer and more useful.

## How long it takes
About 10 minutes.

## If it feels too hard
If you are not sure which traps fit, pick the one that seems closest: there is no exam at
the end, and we will go through it together. If you cannot find a reframe yet, leave that
part empty. Noticing the trap is already progress.
"""

ACTIVITY_LOG_INSTRUCTIONS = """\
## Why this helps
When mood is low we tend to do less, and doing less tends to lower mood further. Logging
what you do, and how it felt, shows which activities lift you a little, which give you a
sense of achievement, and where the day could hold a bit more of both.

## How to do it
Make one entry for each activity you want to record, ideally soon after you do it.
1. **Say what you did**, in a few words ("walked to the shop", "called my sister").
2. **Note when you started** and **roughly how long** it took.
3. **Rate mastery** from 0 to 10: how much of a sense of achievement it gave you, given how
   you felt at the time. Small things count: getting up on a hard day can be an 8.
4. **Rate pleasure** from 0 to 10: how much you enjoyed it.
5. **Rate your mood** afterwards, from 0 (very low) to 10 (very good).

## How long it takes
A minute or two per entry.

## If it feels too hard
Log just one or two activities a day, or only the mastery and pleasure ratings. Low
numbers are useful information, not a failure. If there is a day when you can't face it,
skip it and pick up again tomorrow.
"""


def thought_record() -> BuiltinTemplate:
    text = {"type": "long_text", "max_length": 2000}
    return builtin(
        "thought-record",
        ("cbt", "worksheet", "thoughts", "emotions", "cognitive-restructuring"),
        {
            "kind": "cbt_worksheet",
            "title": "Thought record",
            "description": "Catch an upsetting thought, weigh the evidence and find a more "
            "balanced view.",
            "instructions": THOUGHT_RECORD_INSTRUCTIONS,
            "estimated_minutes": 15,
            "fields": [
                {
                    **text,
                    "key": "situation",
                    "label": "What was happening?",
                    "help": "Where were you, who was there, what happened?",
                    "required": True,
                },
                {
                    **text,
                    "key": "automatic_thoughts",
                    "label": "What went through your mind?",
                    "required": True,
                },
                {
                    "type": "group",
                    "key": "emotions",
                    "label": "What did you feel, and how strongly?",
                    "required": True,
                    "min_items": 1,
                    "max_items": 10,
                    "fields": [
                        {
                            "type": "text",
                            "key": "emotion",
                            "label": "Feeling",
                            "max_length": 100,
                            "required": True,
                        },
                        {
                            "type": "percent",
                            "key": "intensity",
                            "label": "How strong (0-100%)",
                            "required": True,
                        },
                    ],
                },
                {**text, "key": "evidence_for", "label": "What supports the thought?"},
                {**text, "key": "evidence_against", "label": "What doesn't fit the thought?"},
                {**text, "key": "balanced_thought", "label": "A more balanced thought"},
                {
                    "type": "percent",
                    "key": "intensity_after",
                    "label": "How strong is the main feeling now (0-100%)?",
                },
            ],
        },
        {
            "situation": "Sent my manager the report on Friday afternoon. No reply by Monday.",
            "automatic_thoughts": "She thinks it's bad. I'm going to be taken off the project.",
            "emotions": [
                {"emotion": "Anxious", "intensity": 80},
                {"emotion": "Ashamed", "intensity": 55},
            ],
            "evidence_for": "Last month she asked me to redo one section.",
            "evidence_against": "She was on leave Monday. She thanked me for the last two "
            "reports and asked me to present at the team meeting.",
            "balanced_thought": "She hasn't read it yet. Even if she wants changes, that is "
            "normal and not a sign I'll be removed.",
            "intensity_after": 35,
        },
    )


DISTORTIONS = (
    ("all_or_nothing_thinking", "All-or-nothing thinking"),
    ("overgeneralization", "Overgeneralization"),
    ("mental_filter", "Mental filter"),
    ("discounting_the_positive", "Discounting the positive"),
    ("mind_reading", "Mind reading"),
    ("fortune_telling", "Fortune telling"),
    ("magnification_minimization", "Magnification/minimization"),
    ("emotional_reasoning", "Emotional reasoning"),
    ("should_statements", "Should statements"),
    ("labeling", "Labeling"),
    ("personalization", "Personalization"),
    ("blaming", "Blaming"),
)


def cognitive_distortions() -> BuiltinTemplate:
    return builtin(
        "cognitive-distortions",
        ("cbt", "worksheet", "thoughts", "thinking-traps", "cognitive-restructuring"),
        {
            "kind": "cbt_worksheet",
            "title": "Spot the thinking trap",
            "description": "Name the thinking traps in an upsetting thought and reframe it.",
            "instructions": DISTORTIONS_INSTRUCTIONS,
            "estimated_minutes": 10,
            "fields": [
                {
                    "type": "long_text",
                    "key": "thought",
                    "label": "The thought",
                    "max_length": 2000,
                    "required": True,
                },
                {
                    "type": "multi_choice",
                    "key": "distortions",
                    "label": "Which thinking traps fit?",
                    "options": options(*DISTORTIONS),
                    "min_selected": 1,
                    "required": True,
                },
                {
                    "type": "long_text",
                    "key": "reframe",
                    "label": "A fairer, more helpful way to put it",
                    "max_length": 2000,
                },
            ],
        },
        {
            "thought": "I forgot Sam's birthday. I'm a terrible friend and everyone knows it.",
            "distortions": ["labeling", "mind_reading", "overgeneralization"],
            "reframe": "I forgot one birthday during a hard week. I can apologise to Sam. "
            "One slip doesn't cancel years of being there for my friends.",
        },
    )


def activity_log() -> BuiltinTemplate:
    return builtin(
        "activity-log",
        ("cbt", "behavioral-activation", "tracking", "mood", "depression"),
        {
            "kind": "behavioral",
            "title": "Activity log",
            "description": "Record an activity with how much achievement and enjoyment it "
            "gave you.",
            "instructions": ACTIVITY_LOG_INSTRUCTIONS,
            "estimated_minutes": 2,
            "fields": [
                {
                    "type": "text",
                    "key": "activity",
                    "label": "What did you do?",
                    "max_length": 200,
                    "required": True,
                },
                {"type": "time", "key": "started_at", "label": "When did you start?"},
                {"type": "duration_minutes", "key": "duration_minutes", "label": "Minutes"},
                scale_0_10(
                    "mastery",
                    "Mastery: sense of achievement",
                    "None",
                    "A great deal",
                    required=True,
                ),
                scale_0_10(
                    "pleasure", "Pleasure: enjoyment", "None", "A great deal", required=True
                ),
                scale_0_10("mood", "Mood afterwards", "Very low", "Very good"),
            ],
        },
        {
            "activity": "Walked to the park with the dog",
            "started_at": "17:30",
            "duration_minutes": 25,
            "mastery": 6,
            "pleasure": 7,
            "mood": 6,
        },
    )
