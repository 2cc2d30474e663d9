"""Everything held about one client, loaded with a fixed number of queries: the source of the
FHIR `$everything` bundle and of the client's own export; and the erasure of all of it."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.assignments.occurrences import load_timelines
from app.assignments.schemas import AssignmentRead
from app.assignments.service import assignment_read
from app.auth.models import User
from app.auth.principal import Principal
from app.auth.principal_cache import principal_changed
from app.clinics.models import CareTeamMember, Clinic
from app.clinics.repository import get_visible_client
from app.clinics.schemas import ClientRead
from app.clinics.service import client_reads
from app.completions.models import Achievement, Comment, Completion
from app.completions.schemas import CommentRead, CompletionRead
from app.completions.service import completion_read
from app.core import audit
from app.core.idempotency import IdempotencyRecord
from app.core.outbox import Event, record_event
from app.core.time import local_day, utcnow
from app.goals.models import Goal
from app.goals.schemas import AchievementRead, GoalRead
from app.goals.service import goal_reads
from app.groups.models import GroupMembership, GroupShare
from app.groups.service import membership_read
from app.metrics.schemas import Granularity
from app.metrics.service import client_metrics
from app.records.schemas import ClientExport
from app.sync.models import WebhookDelivery
from app.templates.models import Template, TemplateVersion
from app.templates.repository import definition_of


@dataclass
class ClientRecord:
    clinic: Clinic
    client: ClientRead
    therapists: list[User]
    assignments: list[AssignmentRead]
    template_versions: list[dict[str, Any]]
    completions: list[CompletionRead]
    comments: list[CommentRead]
    goals: list[GoalRead]
    achievements: list[AchievementRead]


async def load_record(session: AsyncSession, client: User, now: datetime) -> ClientRecord:
    clinic = await session.get(Clinic, client.clinic_id)
    assert clinic is not None
    therapists = list(
        (
            await session.execute(
                select(User)
                .join(CareTeamMember, CareTeamMember.therapist_id == User.id)
                .where(CareTeamMember.client_id == client.id)
                .order_by(User.id)
            )
        ).scalars()
    )
    assignments = list(
        (
            await session.execute(
                select(Assignment).where(Assignment.client_id == client.id).order_by(Assignment.id)
            )
        ).scalars()
    )
    timelines = await load_timelines(session, assignments)
    completions = list(
        (
            await session.execute(
                select(Completion).where(Completion.client_id == client.id).order_by(Completion.id)
            )
        ).scalars()
    )
    comments = list(
        (
            await session.execute(
                select(Comment).where(Comment.client_id == client.id).order_by(Comment.id)
            )
        ).scalars()
    )
    goals = list(
        (
            await session.execute(select(Goal).where(Goal.client_id == client.id).order_by(Goal.id))
        ).scalars()
    )
    achievements = list(
        (
            await session.execute(
                select(Achievement)
                .where(Achievement.client_id == client.id)
                .order_by(Achievement.earned_at.desc())
            )
        ).scalars()
    )
    version_ids = {a.template_version_id for a in assignments} | {
        c.template_version_id for c in completions
    }
    versions = (
        list(
            (
                await session.execute(
                    select(TemplateVersion, Template.slug)
                    .join(Template, Template.id == TemplateVersion.template_id)
                    .where(TemplateVersion.id.in_(version_ids))
                    .order_by(TemplateVersion.template_id, TemplateVersion.number)
                )
            ).all()
        )
        if version_ids
        else []
    )
    return ClientRecord(
        clinic=clinic,
        client=(await client_reads(session, [client]))[0],
        therapists=therapists,
        assignments=[assignment_read(a, timelines[a.id], now) for a in assignments],
        template_versions=[
            {
                "template_id": str(v.template_id),
                "version": v.number,
                "slug": slug,
                "created_at": v.created_at.isoformat(),
                **definition_of(v).model_dump(mode="json"),
            }
            for v, slug in versions
        ],
        completions=[completion_read(c) for c in completions],
        comments=[CommentRead.model_validate(c) for c in comments],
        goals=await goal_reads(session, goals),
        achievements=[AchievementRead.model_validate(a) for a in achievements],
    )


async def weekly_adherence(
    session: AsyncSession, client: User, now: datetime, weeks: int = 12
) -> list[dict[str, Any]]:
    today = local_day(now, client.timezone)
    start: date = today - timedelta(days=7 * weeks - 1)
    metrics = await client_metrics(session, client, start, today, Granularity.week, now)
    return [
        {
            "period_start": p.period_start.isoformat(),
            "period_end": p.period_end.isoformat(),
            "scheduled": p.scheduled,
            "completed": p.completed,
            "rate": p.rate,
        }
        for p in metrics.series
    ]


async def export_client(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> ClientExport:
    """The client's whole record as one document, audited as `export`. Template versions are
    included so that answers can be read; metrics cover the last 90 days."""
    audit.note(action="export")
    client = await get_visible_client(session, principal, client_id)
    now = utcnow()
    record = await load_record(session, client, now)
    today = local_day(now, client.timezone)
    metrics = await client_metrics(
        session, client, today - timedelta(days=89), today, Granularity.week, now
    )
    return ClientExport(
        exported_at=now.isoformat(),
        client=record.client.model_dump(mode="json"),
        care_team=[
            {"id": str(t.id), "display_name": t.display_name, "email": t.email}
            for t in record.therapists
        ],
        assignments=[a.model_dump(mode="json") for a in record.assignments],
        template_versions=record.template_versions,
        completions=[c.model_dump(mode="json") for c in record.completions],
        comments=[c.model_dump(mode="json") for c in record.comments],
        goals=[g.model_dump(mode="json") for g in record.goals],
        achievements=[a.model_dump(mode="json") for a in record.achievements],
        group_memberships=[
            membership_read(m).model_dump(mode="json")
            for m in await session.scalars(
                select(GroupMembership)
                .where(GroupMembership.client_id == client.id)
                .order_by(GroupMembership.joined_on, GroupMembership.id)
            )
        ],
        group_shares=[
            {
                "id": str(item.id),
                "group_id": str(item.group_id),
                "kind": item.kind,
                "content": item.content,
                "hidden": item.hidden,
                "created_at": item.created_at.isoformat(),
            }
            for item in await session.scalars(
                select(GroupShare).where(GroupShare.client_id == client.id).order_by(GroupShare.id)
            )
        ],
        metrics=metrics,
    )


async def erase_client(session: AsyncSession, principal: Principal, client_id: uuid.UUID) -> None:
    """Erase the client's personal data in this transaction: the account and all that hangs
    off it go by cascade; their events (copies of their data), the deliveries of those events
    and the stored Idempotency-Key answers by or about them are deleted; then one
    `client.deleted` tombstone is announced. Audit rows hold no personal data and stay."""
    client = await get_visible_client(session, principal, client_id)
    clinic_id = client.clinic_id
    event_ids = select(Event.id).where(Event.client_id == client.id)
    await session.execute(delete(WebhookDelivery).where(WebhookDelivery.event_id.in_(event_ids)))
    await session.execute(delete(Event).where(Event.client_id == client.id))
    # Stored replays would answer with the erased data: the client's own, and staff's about them.
    await session.execute(
        delete(IdempotencyRecord).where(
            or_(
                IdempotencyRecord.client_id == client.id,
                IdempotencyRecord.principal == f"user:{client.id}",
            )
        )
    )
    await session.execute(delete(User).where(User.id == client.id))
    principal_changed(session.sync_session, ("user", client.id))
    record_event(
        session,
        "client.deleted",
        resource_type="client",
        resource_id=client_id,
        clinic_id=clinic_id,
        client_id=client_id,
        payload={"id": str(client_id), "deleted": True},
    )
