"""The client's homework plan as one FHIR CarePlan, and their goals as FHIR Goals.

The CarePlan holds an activity per assignment (a Task instantiating the pinned Questionnaire
version) and an activity per goal step. Its id is the client's id: a client has exactly one
homework plan, and ids only need to be unique per resource type.
"""

from collections.abc import Iterable
from typing import Any

from app.fhir.common import (
    compact,
    day,
    fhir_id,
    instant,
    meta,
    parse_instant,
    questionnaire_canonical,
    reference,
    text_or_none,
)
from app.fhir.inputs import AssignmentInput, GoalInput, Timestamp
from app.fhir.timing import timing

ACTIVITY_STATUS = {
    "active": "in-progress",
    "paused": "on-hold",
    "completed": "completed",
    "cancelled": "cancelled",
}
GOAL_LIFECYCLE = {"active": "active", "achieved": "completed", "abandoned": "cancelled"}
GOAL_ACHIEVEMENT_SYSTEM = "http://terminology.hl7.org/CodeSystem/goal-achievement"
GOAL_ACHIEVEMENT = {
    "active": ("in-progress", "In Progress"),
    "achieved": ("achieved", "Achieved"),
    "abandoned": ("not-achieved", "Not Achieved"),
}


def latest(stamps: Iterable[Timestamp | None]) -> Timestamp | None:
    found = [s for s in stamps if s is not None]
    return max(found, key=parse_instant) if found else None


def _description(title: str | None, instructions: str | None) -> str | None:
    parts = [p for p in (text_or_none(title), text_or_none(instructions)) if p]
    return "\n\n".join(parts) or None


def _assignment_activity(
    assignment: AssignmentInput,
    *,
    base_url: str,
    patient: dict[str, Any],
    goal_ids: set[str],
    outcomes: list[str],
) -> dict[str, Any]:
    goal_id = assignment.get("goal_id")
    detail = {
        "kind": "Task",
        "instantiatesCanonical": [
            questionnaire_canonical(
                base_url, assignment["template_id"], assignment["template_version"]
            )
        ],
        # Only goals this export knows: a reference must lead somewhere.
        "goal": [reference("Goal", goal_id)] if goal_id and str(goal_id) in goal_ids else None,
        "status": ACTIVITY_STATUS[assignment["status"]],
        "scheduledTiming": timing(assignment["schedule"]),
        "performer": [patient],
        "description": _description(assignment.get("title"), assignment.get("instructions")),
    }
    return compact(
        {
            # Which completions answered this assignment: the responses themselves can only
            # point at the whole plan (QuestionnaireResponse.basedOn), not at one activity.
            "outcomeReference": [reference("QuestionnaireResponse", c) for c in outcomes],
            "detail": compact(detail),
        }
    )


def _step_status(done: bool, goal_status: str) -> str:
    if done:
        return "completed"
    # An open step of a goal that is no longer pursued will not be started.
    return "not-started" if goal_status == "active" else "cancelled"


def _step_activities(goal: GoalInput, patient: dict[str, Any]) -> list[dict[str, Any]]:
    activities = []
    for step in sorted(goal.get("steps") or [], key=lambda s: s.get("position", 0)):
        done = bool(step.get("done"))
        progress = (
            [{"time": instant(done_at), "text": "Step done."}]
            if done and (done_at := step.get("done_at"))
            else None
        )
        detail = {
            "kind": "Task",
            "goal": [reference("Goal", goal["id"])],
            "status": _step_status(done, goal["status"]),
            "performer": [patient],
            "description": text_or_none(step.get("title")),
        }
        activities.append(compact({"progress": progress, "detail": compact(detail)}))
    return activities


def care_plan(
    *,
    patient_id: str,
    assignments: list[AssignmentInput],
    goals: list[GoalInput],
    therapist_ids: list[str],
    outcomes: dict[str, list[str]],
    last_updated: Timestamp | None,
    base_url: str,
) -> dict[str, Any]:
    """`outcomes` maps an assignment id to the ids of its completions' responses."""
    patient = reference("Patient", patient_id)
    goal_ids = {str(g["id"]) for g in goals}
    activities = [
        _assignment_activity(
            a,
            base_url=base_url,
            patient=patient,
            goal_ids=goal_ids,
            outcomes=outcomes.get(str(a["id"]), []),
        )
        for a in assignments
    ]
    for goal in goals:
        activities.extend(_step_activities(goal, patient))
    created = [s for s in (*assignments, *goals) if s.get("created_at")]
    first = min((parse_instant(s["created_at"]) for s in created), default=None)
    return compact(
        {
            "resourceType": "CarePlan",
            "id": fhir_id(patient_id),
            "meta": meta(last_updated),
            "status": "active",
            "intent": "plan",
            "title": "Therapy homework",
            "subject": patient,
            "created": instant(first) if first else None,
            "contributor": [reference("Practitioner", t) for t in therapist_ids],
            "goal": [reference("Goal", g["id"]) for g in goals],
            "activity": activities,
        }
    )


def goal(data: GoalInput, patient_id: str) -> dict[str, Any]:
    code, display = GOAL_ACHIEVEMENT[data["status"]]
    description, why = text_or_none(data.get("description")), text_or_none(data.get("why"))
    notes = [{"text": description}] if description else []
    if why:
        notes.append({"text": f"Why this matters: {why}"})
    return compact(
        {
            "resourceType": "Goal",
            "id": fhir_id(data["id"]),
            "meta": meta(data.get("updated_at")),
            "lifecycleStatus": GOAL_LIFECYCLE[data["status"]],
            "achievementStatus": {
                "coding": [{"system": GOAL_ACHIEVEMENT_SYSTEM, "code": code, "display": display}]
            },
            "description": {"text": text_or_none(data.get("title")) or "Goal"},
            "subject": reference("Patient", patient_id),
            "target": [{"dueDate": day(due)}] if (due := data.get("target_date")) else None,
            "note": notes,
        }
    )
