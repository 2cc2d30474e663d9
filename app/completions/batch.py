"""An offline queue of completions, recorded item by item: each stored or refused on its own."""

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.completions.schemas import (
    BatchCompletionCreate,
    BatchItemResult,
    BatchResult,
    CompletionCreate,
)
from app.completions.service import completion_read, record_completion
from app.core.errors import AppError, field_error, problem_body


async def record_batch(
    session: AsyncSession,
    principal: Principal,
    items: list[dict[str, Any]],
    *,
    request_id: str | None,
) -> BatchResult:
    """One result per item, in order. Each item is checked and stored inside its own
    savepoint: a refused item leaves no trace (its events included) and does not affect the
    others; its result carries the problem its own request would have answered."""
    return BatchResult(
        results=[
            await _record_item(session, principal, index, raw, request_id)
            for index, raw in enumerate(items)
        ]
    )


async def _record_item(
    session: AsyncSession,
    principal: Principal,
    index: int,
    raw: dict[str, Any],
    request_id: str | None,
) -> BatchItemResult:
    try:
        item = BatchCompletionCreate.model_validate(raw)
        async with session.begin_nested():
            completion, created = await record_completion(
                session,
                principal,
                item.assignment_id,
                CompletionCreate.model_validate(item.model_dump(exclude={"assignment_id"})),
            )
    except ValidationError as exc:
        errors = [
            field_error(["body", "items", index, *e["loc"]], e["msg"], e["type"])
            for e in exc.errors()
        ]
        return BatchItemResult(
            index=index,
            status=422,
            problem=problem_body(
                422,
                slug="validation-error",
                detail="The item is not valid.",
                errors=errors,
                request_id=request_id,
            ),
        )
    except AppError as exc:
        return BatchItemResult(
            index=index,
            status=exc.status,
            id=raw.get("id") if isinstance(raw.get("id"), str) else None,
            problem=problem_body(
                exc.status,
                slug=exc.slug,
                title=exc.title,
                detail=exc.detail,
                errors=exc.errors,
                extra=exc.extra,
                request_id=request_id,
            ),
        )
    return BatchItemResult(
        index=index,
        status=201 if created else 200,
        id=completion.id,
        completion=completion_read(completion),
    )
