"""Completion statements scoped to the principal."""

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.clinics.repository import client_ids_visible_to
from app.completions.models import Completion
from app.core import audit
from app.core.errors import NotFound


class CompletionNotFound(NotFound):
    slug = "completion-not-found"


def visible_completions(principal: Principal) -> Select[tuple[Completion]]:
    return select(Completion).where(
        Completion.clinic_id == principal.clinic_id,
        *client_ids_visible_to(principal, Completion.client_id),
    )


async def get_visible_completion(
    session: AsyncSession,
    principal: Principal,
    completion_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Completion:
    stmt = visible_completions(principal).where(Completion.id == completion_id)
    if for_update:
        stmt = stmt.with_for_update()
    completion = (await session.execute(stmt)).scalar_one_or_none()
    if completion is None:
        raise CompletionNotFound("No such completion.")
    audit.note(client_id=completion.client_id)
    return completion
