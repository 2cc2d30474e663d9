"""Clinics and care teams. Services flush, never commit."""

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.clinics.models import CareTeamMember, Clinic


async def create_clinic(session: AsyncSession, *, name: str, timezone: str = "UTC") -> Clinic:
    clinic = Clinic(name=name, timezone=timezone)
    session.add(clinic)
    await session.flush()
    return clinic


async def find_clinic_by_name(session: AsyncSession, name: str) -> Clinic | None:
    stmt = select(Clinic).where(Clinic.name == name).order_by(Clinic.id).limit(1)
    return (await session.execute(stmt)).scalar_one_or_none()


async def ensure_on_care_team(session: AsyncSession, *, therapist: User, client: User) -> None:
    existing = await session.get(CareTeamMember, (client.id, therapist.id))
    if existing is None:
        session.add(
            CareTeamMember(
                client_id=client.id, therapist_id=therapist.id, clinic_id=client.clinic_id
            )
        )
        await session.flush()
