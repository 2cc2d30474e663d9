"""The agenda's one statement: a client's assignments of a window, their schedule segments and
pauses, the window's completions and the client's own time zone, as rows of one UNION ALL
(`kind` tells which)."""

import enum
from typing import Any

from sqlalchemy import Select, and_, bindparam, cast, literal_column, null, select, union_all

from app.assignments.models import Assignment, AssignmentPause, AssignmentSchedule
from app.assignments.repository import overlapping
from app.auth.models import Role, User
from app.completions.models import Completion
from app.core.models import JSONType, UTCDateTime
from app.core.prepared import Prepared


class Row(enum.IntEnum):
    assignment = 0
    schedule = 1
    pause = 2
    completion = 3
    zone = 4  # the client's time zone (in `title`); none when the clinic has no such client


_client = bindparam("client_id", type_=Assignment.client_id.type)
_clinic = bindparam("clinic_id", type_=Assignment.clinic_id.type)
_start = bindparam("start", type_=Assignment.first_date.type)
_end = bindparam("end", type_=Assignment.first_date.type)

# The window's assignments (they can have an occurrence between `start` and `end`).
_in_window = and_(Assignment.client_id == _client, overlapping(_start, _end))
_window = select(Assignment.id).where(_in_window).scalar_subquery()


def _nulls(*types: Any) -> list[Any]:
    return [cast(null(), t) for t in types]


_TEXT = Assignment.title.type
_UUID = Assignment.id.type
_INT = Assignment.estimated_minutes.type
_DATE = Assignment.first_date.type


def _part(kind: Row, *columns: Any) -> Select[Any]:
    return select(literal_column(str(int(kind)), _INT).label("kind"), *columns)


# Columns: kind, assignment_id, title, ref_id (template or completion), template_kind, minutes,
# at (ended / effective from / paused / completed), until (effective to / resumed), schedule,
# occurrence date, occurrence time, completion status. The first part types every column.
AGENDA = Prepared(
    union_all(
        _part(
            Row.assignment,
            Assignment.id.label("assignment_id"),
            Assignment.title,
            Assignment.template_id.label("ref_id"),
            cast(Assignment.template_kind, _TEXT).label("template_kind"),
            Assignment.estimated_minutes,
            Assignment.ended_at.label("at"),
            cast(null(), UTCDateTime).label("until"),
            cast(null(), JSONType).label("schedule"),
            cast(null(), _DATE).label("day"),
            cast(null(), _TEXT).label("at_time"),
            cast(null(), _TEXT).label("status"),
        ).where(_in_window),
        _part(
            Row.schedule,
            AssignmentSchedule.assignment_id,
            *_nulls(_TEXT, _UUID, _TEXT, _INT),
            AssignmentSchedule.effective_from,
            AssignmentSchedule.effective_to,
            AssignmentSchedule.schedule,
            *_nulls(_DATE, _TEXT, _TEXT),
        ).where(AssignmentSchedule.assignment_id.in_(_window)),
        _part(
            Row.pause,
            AssignmentPause.assignment_id,
            *_nulls(_TEXT, _UUID, _TEXT, _INT),
            AssignmentPause.paused_at,
            AssignmentPause.resumed_at,
            *_nulls(JSONType, _DATE, _TEXT, _TEXT),
        ).where(AssignmentPause.assignment_id.in_(_window)),
        _part(
            Row.completion,
            Completion.assignment_id,
            cast(null(), _TEXT),
            Completion.id,
            *_nulls(_TEXT, _INT),
            Completion.completed_at,
            *_nulls(UTCDateTime, JSONType),
            Completion.occurrence_date,
            Completion.occurrence_time,
            cast(Completion.status, _TEXT),
        ).where(
            and_(
                Completion.client_id == _client,
                Completion.assignment_id.in_(_window),
                Completion.occurrence_date.between(_start, _end),
            )
        ),
        _part(
            Row.zone,
            User.id,
            User.timezone,
            *_nulls(_UUID, _TEXT, _INT, UTCDateTime, UTCDateTime, JSONType, _DATE, _TEXT, _TEXT),
        ).where(User.id == _client, User.clinic_id == _clinic, User.role == Role.client),
    ).order_by("kind", "assignment_id", "at")
)
