"""Webhook endpoints of a clinic: registered, changed, removed; their deliveries, retried or pinged.

Who chooses where data goes answers for it: creating an endpoint, changing its URL or event
types, or turning it back on needs the read scope of what its events carry, and makes the
caller its owner (app/sync/subscriptions.py).
"""

import uuid
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.policy import require_scopes
from app.auth.principal import Principal
from app.core.errors import NotFound, Unprocessable, field_error
from app.core.pagination import ListParams, Page, SortKey, changed_since, paginate_rows
from app.core.time import utcnow
from app.sync.models import Webhook, WebhookDelivery
from app.sync.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate
from app.sync.signing import new_webhook_secret
from app.sync.subscriptions import scopes_to_hear, take_ownership
from app.sync.urls import UnsafeWebhookUrl, check_webhook_url


class WebhookNotFound(NotFound):
    slug = "webhook-not-found"


class DeliveryNotFound(NotFound):
    slug = "webhook-delivery-not-found"


async def _safe_url(url: str, *, allow_http_loopback: bool) -> str:
    # Registration only resolves (once) and checks every address; it never connects, so there
    # is no second lookup to rebind. The worker checks again, and pins, at each delivery.
    try:
        target = await check_webhook_url(url, allow_http_loopback=allow_http_loopback)
    except UnsafeWebhookUrl as exc:
        raise Unprocessable(
            str(exc), errors=[field_error(["body", "url"], str(exc), "unsafe_url")]
        ) from None
    return target.url


def clinic_webhooks(
    principal: Principal, *, updated_since: datetime | None = None
) -> Select[Webhook]:
    """The endpoints of the principal's clinic (changed since `updated_since`, when given)."""
    stmt = select(Webhook).where(Webhook.clinic_id == principal.clinic_id)
    stmt = changed_since(stmt, Webhook.updated_at, updated_since)
    return stmt


def deliveries_of(webhook: Webhook, *, status: str | None = None) -> Select[WebhookDelivery]:
    """An endpoint's deliveries (in one status, when given)."""
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    return stmt


async def get_webhook(
    session: AsyncSession, principal: Principal, webhook_id: uuid.UUID, *, for_update: bool = False
) -> Webhook:
    stmt = clinic_webhooks(principal).where(Webhook.id == webhook_id)
    if for_update:
        stmt = stmt.with_for_update()
    webhook = await session.scalar(stmt)
    if webhook is None:
        raise WebhookNotFound("No such webhook.")
    return webhook


async def list_webhooks(
    session: AsyncSession, principal: Principal, params: ListParams
) -> Page[WebhookRead]:
    stmt = clinic_webhooks(principal, updated_since=params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Webhook.id)])
    return Page(items=[WebhookRead.model_validate(w) for w in rows], next_cursor=cursor)


async def create_webhook(
    session: AsyncSession, principal: Principal, body: WebhookCreate, *, allow_http_loopback: bool
) -> WebhookCreated:
    """A new endpoint owned by the caller; its signing secret is in this answer only."""
    require_scopes(principal, scopes_to_hear(body.event_types), ["body", "event_types"])
    webhook = Webhook(
        clinic_id=principal.clinic_id,
        url=await _safe_url(body.url, allow_http_loopback=allow_http_loopback),
        event_types=sorted(set(body.event_types)),
        active=body.active,
        secret=new_webhook_secret(),
    )
    take_ownership(webhook, principal)
    session.add(webhook)
    await session.flush()
    return WebhookCreated(**WebhookRead.model_validate(webhook).model_dump(), secret=webhook.secret)


async def update_webhook(
    session: AsyncSession,
    principal: Principal,
    webhook: Webhook,
    body: WebhookUpdate,
    *,
    allow_http_loopback: bool,
) -> WebhookRead:
    """Change what was sent; turning an endpoint back on forgets its failures."""
    if body.url is not None:
        webhook.url = await _safe_url(body.url, allow_http_loopback=allow_http_loopback)
    if body.event_types is not None:
        webhook.event_types = sorted(set(body.event_types))
    if body.active is not None:
        webhook.active = body.active
        if body.active:
            webhook.disabled_at = None
            webhook.consecutive_failures = 0
    if body.url is not None or body.event_types is not None or body.active:
        # Whoever (re)chooses where data goes, or turns it back on, answers for it.
        loc: list[str | int] = ["body", "event_types" if body.event_types is not None else "active"]
        require_scopes(principal, scopes_to_hear(webhook.event_types), loc)
        take_ownership(webhook, principal)
    await session.flush()
    return WebhookRead.model_validate(webhook)


async def delete_webhook(session: AsyncSession, webhook: Webhook) -> None:
    """Remove the endpoint; its deliveries go with it (cascade)."""
    await session.delete(webhook)


async def list_deliveries(
    session: AsyncSession, webhook: Webhook, params: ListParams, *, status: str | None = None
) -> Page[DeliveryRead]:
    rows, cursor = await paginate_rows(
        session,
        deliveries_of(webhook, status=status),
        params,
        [SortKey(WebhookDelivery.id, descending=True)],
    )
    return Page(items=[DeliveryRead.model_validate(d) for d in rows], next_cursor=cursor)


async def retry_delivery(
    session: AsyncSession, webhook: Webhook, delivery_id: uuid.UUID
) -> DeliveryRead:
    """Make the delivery due now; the worker sends it at its next round."""
    delivery = await session.scalar(deliveries_of(webhook).where(WebhookDelivery.id == delivery_id))
    if delivery is None:
        raise DeliveryNotFound("No such delivery.")
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.locked_until = None
    await session.flush()
    return DeliveryRead.model_validate(delivery)


async def ping_webhook(session: AsyncSession, webhook: Webhook) -> DeliveryRead:
    """Queue a `webhook.ping` delivery for this endpoint only (it is no event of the feed)."""
    delivery = WebhookDelivery(
        clinic_id=webhook.clinic_id,
        webhook_id=webhook.id,
        event_id=uuid.uuid4(),
        event_sequence=0,
        event_type="webhook.ping",
    )
    session.add(delivery)
    await session.flush()
    return DeliveryRead.model_validate(delivery)
