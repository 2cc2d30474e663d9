"""Everything held about one client, loaded with a fixed number of queries: the source of the
FHIR `$everything` bundle and of the client's own export."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.assignments.models import Assignment
from app.assignments.occurrences import load_timelines
from app.assignments.schemas import AssignmentRead
from app.assignments.service import assignment_read
from app.auth.models import User
from app.clinics.models import CareTeamMember, Clinic
from app.clinics.schemas import ClientRead
from app.clinics.service import client_reads
from app.completions.models import Achievement, Comment, Completion
from app.completions.schemas import CommentRead, CompletionRead
from app.completions.service import completion_read
from app.goals.models import Goal
from app.goals.schemas import AchievementRead, GoalRead
from app.goals.service import goal_reads
from app.metrics.schemas import Granularity
from app.metrics.service import client_metrics
from app.templates.models import Template, TemplateVersion
from app.templates.repository import definition_of


@dataclass
class ClientRecord:
    clinic: Clinic
    client: ClientRead
    therapists: list[User]
    assignments: list[AssignmentRead]
    template_versions: list[dict]  # type: ignore[type-arg]
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
) -> list[dict]:  # type: ignore[type-arg]
    today = now.astimezone(ZoneInfo(client.timezone)).date()
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
