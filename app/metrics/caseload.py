"""The caseload: one row per visible client with what a therapist scans first.

Every statement reads an index from each client's side and stops there (the latest completion,
the open ones, the two latest scored ones, the answers of the last 30 days), so a call costs
about the same whether the clients hold ten completions each or ten thousand.
"""

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.assignments.repository import overlapping
from app.auth.models import User
from app.auth.principal import Principal
from app.clinics.models import CareTeamMember
from app.clinics.repository import visible_clients
from app.completions.adherence import AssignmentRef, Counts, adherence_windows
from app.completions.models import Completion
from app.core.errors import Unprocessable, field_error
from app.core.pagination import Page, decode_plain_cursor, encode_cursor, invalid_cursor
from app.core.time import utcnow
from app.metrics.schemas import CaseloadRow, CaseloadSort
from app.support.models import SupportEpisode
from app.support.repository import signal_on
from app.support.schemas import SupportSignal
from app.support.service import signal_of
from app.templates.models import Template
from app.templates.repository import definitions_by_ids

WINDOWS = (7, 30)
MAX_CASELOAD = 2000


def caseload_clients(
    principal: Principal, *, therapist_id: uuid.UUID | None = None
) -> Select[User]:
    """The visible clients, or those on one therapist's care team when `therapist_id` is given."""
    stmt = visible_clients(principal)
    if therapist_id is not None:
        stmt = stmt.where(
            exists().where(
                CareTeamMember.client_id == User.id, CareTeamMember.therapist_id == therapist_id
            )
        )
    return stmt


async def caseload_page(
    session: AsyncSession,
    principal: Principal,
    *,
    sort: CaseloadSort,
    descending: bool,
    therapist_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> Page[CaseloadRow]:
    """Rows are computed for the whole (filtered) caseload, then sorted and paged; the cursor
    remembers the last row's sort key, so later pages continue after it."""
    stmt = caseload_clients(principal, therapist_id=therapist_id)
    clients = list((await session.execute(stmt.limit(MAX_CASELOAD + 1))).scalars())
    if len(clients) > MAX_CASELOAD:
        raise Unprocessable(
            f"The caseload has more than {MAX_CASELOAD} clients; filter by therapist_id.",
            errors=[field_error(["query", "therapist_id"], "Caseload too large", "too_many")],
        )
    rows = await caseload_rows(session, clients, utcnow())
    keyed = sorted(
        ((_cursor_key(r, sort), r) for r in rows), key=lambda kr: _order(kr[0], descending)
    )
    if cursor:
        last = _order(decode_plain_cursor(cursor, 3), descending)
        try:
            keyed = [kr for kr in keyed if last < _order(kr[0], descending)]
        except TypeError:  # a cursor made for another sort
            raise invalid_cursor("The cursor belongs to another sort order.") from None
    page = keyed[:limit]
    next_cursor = encode_cursor(page[-1][0]) if len(keyed) > limit else None
    return Page(items=[row for _, row in page], next_cursor=next_cursor)


class _Reversed:
    """Wraps a value so that ascending sorts put it in descending order."""

    # Any: a cursor's values are compared as they come, and one made for another sort order
    # fails the comparison (TypeError), which the caller answers with a 422.
    def __init__(self, value: Any) -> None:
        self.value = value

    def __lt__(self, other: "_Reversed") -> bool:
        return self.value > other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value


def _cursor_key(row: CaseloadRow, sort: CaseloadSort) -> list[object]:
    value = getattr(row, "display_name" if sort == CaseloadSort.name else sort.value)
    if isinstance(value, datetime):
        value = value.isoformat()  # all UTC, so the text sorts like the instant
    return [value is None, value if value is not None else 0, str(row.client_id)]


def _order(key: list[object], descending: bool) -> tuple[object, ...]:
    # Nulls last in both directions; the client id breaks ties so the order is total.
    is_null, value, client_id = key
    if descending:
        return (is_null, _Reversed(value), _Reversed(client_id))
    return (is_null, value, client_id)


async def caseload_rows(
    session: AsyncSession, clients: list[User], now: datetime
) -> list[CaseloadRow]:
    """Rows for these clients in a fixed number of queries, whatever their count."""
    ids = [c.id for c in clients]
    if not ids:
        return []
    last, signals = await _last_completions(session, ids)
    open_work = await _open_work(session, ids)
    latest = await _latest_measures(session, ids)
    per_client = await _adherence(session, ids, now)
    rows = []
    for client in clients:
        open_unreviewed, discuss, risk = open_work.get(client.id, (0, 0, 0))
        seven, thirty = per_client.get(client.id) or (Counts(), Counts())
        title, band, direction = latest.get(client.id, (None, None, None))
        rows.append(
            CaseloadRow(
                client_id=client.id,
                display_name=client.display_name,
                adherence_7d=seven.rate,
                adherence_30d=thirty.rate,
                last_completion_at=last.get(client.id),
                unreviewed=open_unreviewed,
                open_discuss=discuss,
                open_risk=risk,
                latest_measure=title,
                latest_band=band,
                band_direction=direction,
                needs_support=signals.get(client.id),
            )
        )
    return rows


async def _last_completions(
    session: AsyncSession, client_ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, datetime], dict[uuid.UUID, SupportSignal]]:
    """Each client's latest completion, and open support signal, in one statement."""
    # One max() per client, which reads the end of its (client_id, completed_at) index range.
    latest = (
        select(func.max(Completion.completed_at))
        .where(Completion.client_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    # At most one signal per client (the open-episode index is unique): no row is repeated.
    rows = await session.execute(
        select(
            User.id,
            latest,
            SupportEpisode.id,
            SupportEpisode.opened_at,
            SupportEpisode.reasons,
            SupportEpisode.suggestion,
        )
        .outerjoin(SupportEpisode, signal_on(User.id))
        .where(User.id.in_(client_ids))
    )
    last: dict[uuid.UUID, datetime] = {}
    signals: dict[uuid.UUID, SupportSignal] = {}
    for client_id, at, episode_id, opened_at, reasons, suggestion in rows:
        if at is not None:
            last[client_id] = at
        if episode_id is not None:
            signals[client_id] = signal_of(episode_id, opened_at, reasons, suggestion)
    return last, signals


async def _open_work(
    session: AsyncSession, client_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[int, int, int]]:
    """Unreviewed completions, those of them that want discussing, and those flagged at risk;
    only the unreviewed part of each client's (client_id, reviewed_at) index is read."""
    rows = await session.execute(
        select(
            Completion.client_id,
            func.count(),
            func.count(case((Completion.wants_to_discuss, 1))),
            func.count(case((Completion.risk, 1))),
        )
        .where(Completion.client_id.in_(client_ids), Completion.reviewed_at.is_(None))
        .group_by(Completion.client_id)
    )
    return {client_id: (n, discuss, risk) for client_id, n, discuss, risk in rows}


async def _adherence(
    session: AsyncSession, client_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, tuple[Counts, Counts]]:
    """Each client's counts over the last 7 and 30 local days, from the assignments that can
    have an occurrence in them (local today is at most a day from UTC's either way)."""
    utc_today = now.astimezone(UTC).date()
    earliest = utc_today - timedelta(days=max(WINDOWS))
    refs = (
        await session.execute(
            select(
                Assignment.id,
                Assignment.ended_at,
                Assignment.schedule["timezone"].as_string(),
                Assignment.client_id,
            ).where(
                Assignment.client_id.in_(client_ids),
                overlapping(earliest, utc_today + timedelta(days=1)),
                # Nothing due after its end counts, and nothing in the windows is due before this.
                or_(
                    Assignment.ended_at.is_(None),
                    Assignment.ended_at
                    >= datetime.combine(earliest, time(), UTC) - timedelta(days=2),
                ),
            )
        )
    ).all()
    windows = await adherence_windows(
        session, [AssignmentRef(a, ended, tz) for a, ended, tz, _ in refs], now, WINDOWS
    )
    per_client: dict[uuid.UUID, tuple[Counts, Counts]] = {}
    for assignment_id, _, _, client_id in refs:
        seven, thirty = per_client.setdefault(client_id, (Counts(), Counts()))
        week, month = windows[assignment_id]
        seven.merge(week)
        thirty.merge(month)
    return per_client


def _scored(column: Any, offset: int) -> Any:
    """One field of a client's scored completion, newest first: read from the end of the
    client's part of the scored-completions index, which holds every field asked for."""
    return (
        select(column)
        .where(Completion.client_id == User.id, Completion.score_total.is_not(None))
        .correlate(User)
        .order_by(Completion.completed_at.desc(), Completion.id.desc())
        .limit(1)
        .offset(offset)
        .scalar_subquery()
    )


async def _latest_measures(
    session: AsyncSession, client_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str | None, str | None]]:
    """Each client's latest scored measure, its band, and whether the band went down (better)
    or up compared with the previous score of the same measure."""
    rows = (
        await session.execute(
            select(
                User.id,
                _scored(Completion.template_id, 0),
                _scored(Completion.template_version_id, 0),
                _scored(Completion.score_band, 0),
                _scored(Completion.template_id, 1),
                _scored(Completion.score_band, 1),
            ).where(User.id.in_(client_ids))
        )
    ).all()
    rows = [row for row in rows if row[1] is not None]
    if not rows:
        return {}
    titles = dict(
        (
            await session.execute(
                select(Template.id, Template.title).where(
                    Template.id.in_({template for _, template, *_ in rows})
                )
            )
        ).all()
    )
    compared = {version for _, template, version, _, before, _ in rows if before == template}
    definitions = await definitions_by_ids(session, compared)
    found = {}
    for client_id, template_id, version_id, band, before_template, before_band in rows:
        direction = None
        if before_template == template_id:
            definition = definitions[version_id]
            order = [b.code for b in definition.scoring.bands] if definition.scoring else []
            if band in order and before_band in order:
                now_i, before_i = order.index(band), order.index(before_band)
                direction = (
                    "improving" if now_i < before_i else "worsening" if now_i > before_i else "same"
                )
        found[client_id] = (titles[template_id], band, direction)
    return found
