"""The caseload: one row per visible client with what a therapist scans first."""

import uuid
from collections import defaultdict
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.auth.models import User
from app.completions.adherence import Counts, adherence_for_assignments
from app.completions.models import Completion
from app.metrics.schemas import CaseloadRow
from app.templates.models import Template, TemplateVersion
from app.templates.repository import definition_of


async def caseload_rows(
    session: AsyncSession, clients: list[User], now: datetime
) -> list[CaseloadRow]:
    """Rows for these clients in a fixed number of queries, whatever their count."""
    ids = [c.id for c in clients]
    if not ids:
        return []
    unreviewed = Completion.reviewed_at.is_(None)
    stats = {
        row[0]: row[1:]
        for row in (
            await session.execute(
                select(
                    Completion.client_id,
                    func.max(Completion.completed_at),
                    func.count(case((unreviewed, 1))),
                    func.count(case((unreviewed & Completion.wants_to_discuss, 1))),
                    func.count(case((unreviewed & Completion.risk, 1))),
                )
                .where(Completion.client_id.in_(ids))
                .group_by(Completion.client_id)
            )
        ).all()
    }
    latest = await _latest_measures(session, ids)
    assignments = list(
        (await session.execute(select(Assignment).where(Assignment.client_id.in_(ids)))).scalars()
    )
    week = await adherence_for_assignments(session, assignments, now, days=7)
    month = await adherence_for_assignments(session, assignments, now, days=30)
    per_client: dict[uuid.UUID, tuple[Counts, Counts]] = defaultdict(lambda: (Counts(), Counts()))
    for a in assignments:
        seven, thirty = per_client[a.client_id]
        seven.merge(week[a.id])
        thirty.merge(month[a.id])
    rows = []
    for client in clients:
        last, open_unreviewed, discuss, risk = stats.get(client.id, (None, 0, 0, 0))
        seven, thirty = per_client[client.id]
        title, band, direction = latest.get(client.id, (None, None, None))
        rows.append(
            CaseloadRow(
                client_id=client.id,
                display_name=client.display_name,
                adherence_7d=seven.rate,
                adherence_30d=thirty.rate,
                last_completion_at=last,
                unreviewed=open_unreviewed,
                open_discuss=discuss,
                open_risk=risk,
                latest_measure=title,
                latest_band=band,
                band_direction=direction,
            )
        )
    return rows


async def _latest_measures(
    session: AsyncSession, client_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, str | None, str | None]]:
    """Each client's latest scored measure, its band, and whether the band went down (better)
    or up compared with the previous score of the same measure."""
    ranked = (
        select(
            Completion.client_id,
            Completion.template_id,
            Completion.template_version_id,
            Completion.score_band,
            func.row_number()
            .over(partition_by=Completion.client_id, order_by=Completion.completed_at.desc())
            .label("rank"),
        )
        .where(Completion.client_id.in_(client_ids), Completion.score_total.is_not(None))
        .subquery()
    )
    rows = (
        await session.execute(
            select(ranked, Template.title)
            .join(Template, Template.id == ranked.c.template_id)
            .where(ranked.c.rank <= 2)
            .order_by(ranked.c.client_id, ranked.c.rank)
        )
    ).all()
    by_client: dict[uuid.UUID, list] = defaultdict(list)  # type: ignore[type-arg]
    for row in rows:
        by_client[row.client_id].append(row)
    versions = (
        {
            v.id: v
            for v in (
                await session.execute(
                    select(TemplateVersion).where(
                        TemplateVersion.id.in_({r.template_version_id for r in rows})
                    )
                )
            ).scalars()
        }
        if rows
        else {}
    )
    found = {}
    for client_id, (latest, *earlier) in by_client.items():
        direction = None
        if earlier and earlier[0].template_id == latest.template_id:
            definition = definition_of(versions[latest.template_version_id])
            order = [b.code for b in definition.scoring.bands] if definition.scoring else []
            if latest.score_band in order and earlier[0].score_band in order:
                now_i, before_i = order.index(latest.score_band), order.index(earlier[0].score_band)
                direction = (
                    "improving" if now_i < before_i else "worsening" if now_i > before_i else "same"
                )
        found[client_id] = (latest.title, latest.score_band, direction)
    return found
