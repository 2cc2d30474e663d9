"""The caseload: one row per visible client with what a therapist scans first.

Every statement reads an index from each client's side and stops there (the latest completion,
the open ones, the two latest scored ones, the answers of the last 30 days), so a call costs
about the same whether the clients hold ten completions each or ten thousand.
"""

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.auth.models import User
from app.completions.adherence import AssignmentRef, Counts, adherence_windows
from app.completions.models import Completion
from app.metrics.schemas import CaseloadRow
from app.templates.models import Template
from app.templates.repository import definitions_by_ids

WINDOWS = (7, 30)


async def caseload_rows(
    session: AsyncSession, clients: list[User], now: datetime
) -> list[CaseloadRow]:
    """Rows for these clients in a fixed number of queries, whatever their count."""
    ids = [c.id for c in clients]
    if not ids:
        return []
    last = await _last_completions(session, ids)
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
            )
        )
    return rows


async def _last_completions(
    session: AsyncSession, client_ids: list[uuid.UUID]
) -> dict[uuid.UUID, datetime]:
    # One max() per client, which reads the end of its (client_id, completed_at) index range.
    latest = (
        select(func.max(Completion.completed_at))
        .where(Completion.client_id == User.id)
        .correlate(User)
        .scalar_subquery()
    )
    rows = await session.execute(select(User.id, latest).where(User.id.in_(client_ids)))
    return {client_id: at for client_id, at in rows if at is not None}


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
                Assignment.first_date <= utc_today + timedelta(days=1),
                or_(Assignment.last_date.is_(None), Assignment.last_date >= earliest),
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
