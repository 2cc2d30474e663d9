"""Webhook endpoints: register, change, remove, inspect deliveries, retry, ping."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select

from app.auth.policy import ADMINS, WRITE, Policy, require_scopes
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.errors import NotFound, Unprocessable
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page, SortKey, paginate_rows
from app.core.routing import ProblemRoute, problem_responses
from app.core.time import utcnow
from app.sync.models import Webhook, WebhookDelivery
from app.sync.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate
from app.sync.signing import new_webhook_secret
from app.sync.subscriptions import scopes_to_hear, take_ownership
from app.sync.urls import UnsafeWebhookUrl, check_webhook_url

router = APIRouter(
    route_class=ProblemRoute, tags=["webhooks"], responses=problem_responses(401, 403)
)
# Managing endpoints is the clinic's configuration (write); subscribing to an event also needs
# the read scope of what it carries (app/sync/subscriptions.py).
WebhookAdmin = Annotated[Principal, Depends(Policy(ADMINS, WRITE, api_clients=True))]


class WebhookNotFound(NotFound):
    slug = "webhook-not-found"


class DeliveryNotFound(NotFound):
    slug = "webhook-delivery-not-found"


async def _safe_url(request: Request, url: str) -> str:
    # Registration only resolves (once) and checks every address; it never connects, so there
    # is no second lookup to rebind. The worker checks again, and pins, at each delivery.
    try:
        target = await check_webhook_url(
            url, allow_http_loopback=request.app.state.settings.webhook_allow_http_loopback
        )
    except UnsafeWebhookUrl as exc:
        raise Unprocessable(
            str(exc), errors=[{"loc": ["body", "url"], "msg": str(exc), "type": "unsafe_url"}]
        ) from None
    return target.url


async def _webhook(
    session: SessionDep, principal: Principal, webhook_id: uuid.UUID, *, for_update: bool = False
) -> Webhook:
    stmt = select(Webhook).where(Webhook.id == webhook_id, Webhook.clinic_id == principal.clinic_id)
    if for_update:
        stmt = stmt.with_for_update()
    webhook = await session.scalar(stmt)
    if webhook is None:
        raise WebhookNotFound("No such webhook.")
    return webhook


@router.get("/webhooks", operation_id="listWebhooks", summary="The clinic's webhook endpoints")
async def list_webhooks(
    session: SessionDep, principal: WebhookAdmin, params: ListParamsDep
) -> Page[WebhookRead]:
    stmt = select(Webhook).where(Webhook.clinic_id == principal.clinic_id)
    if params.updated_since is not None:
        stmt = stmt.where(Webhook.updated_at >= params.updated_since)
    rows, cursor = await paginate_rows(session, stmt, params, [SortKey(Webhook.id)])
    return Page(items=[WebhookRead.model_validate(w) for w in rows], next_cursor=cursor)


@router.post(
    "/webhooks",
    operation_id="createWebhook",
    status_code=201,
    summary="Register an https endpoint; its signing secret is shown only here",
)
async def create_webhook(
    request: Request,
    body: WebhookCreate,
    session: SessionDep,
    principal: WebhookAdmin,
    response: Response,
) -> WebhookCreated:
    require_scopes(principal, scopes_to_hear(body.event_types), ["body", "event_types"])
    webhook = Webhook(
        clinic_id=principal.clinic_id,
        url=await _safe_url(request, body.url),
        event_types=sorted(set(body.event_types)),
        active=body.active,
        secret=new_webhook_secret(),
    )
    take_ownership(webhook, principal)
    session.add(webhook)
    await session.flush()
    response.headers["Location"] = f"/v1/webhooks/{webhook.id}"
    set_etag(response, webhook.version)
    return WebhookCreated(**WebhookRead.model_validate(webhook).model_dump(), secret=webhook.secret)


@router.get(
    "/webhooks/{webhook_id}",
    operation_id="getWebhook",
    summary="One webhook endpoint",
    responses=problem_responses(404),
)
async def get_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhookAdmin, response: Response
) -> WebhookRead:
    webhook = await _webhook(session, principal, webhook_id)
    set_etag(response, webhook.version)
    return WebhookRead.model_validate(webhook)


@router.patch(
    "/webhooks/{webhook_id}",
    operation_id="updateWebhook",
    summary="Change the URL, event types or active flag",
    responses=problem_responses(404, 412),
)
async def update_webhook(
    request: Request,
    webhook_id: uuid.UUID,
    body: WebhookUpdate,
    session: SessionDep,
    principal: WebhookAdmin,
    response: Response,
    if_match: IfMatch = None,
) -> WebhookRead:
    webhook = await _webhook(session, principal, webhook_id, for_update=True)
    check_if_match(if_match, webhook.version)
    if body.url is not None:
        webhook.url = await _safe_url(request, body.url)
    if body.event_types is not None:
        webhook.event_types = sorted(set(body.event_types))
    if body.active is not None:
        webhook.active = body.active
        if body.active:
            webhook.disabled_at = None
            webhook.consecutive_failures = 0
    if body.url is not None or body.event_types is not None or body.active:
        # Whoever (re)chooses where data goes, or turns it back on, answers for it.
        loc = ["body", "event_types" if body.event_types is not None else "active"]
        require_scopes(principal, scopes_to_hear(webhook.event_types), loc)
        take_ownership(webhook, principal)
    await session.flush()
    set_etag(response, webhook.version)
    return WebhookRead.model_validate(webhook)


@router.delete(
    "/webhooks/{webhook_id}",
    operation_id="deleteWebhook",
    status_code=204,
    summary="Remove an endpoint and its pending deliveries",
    responses=problem_responses(404, 412),
)
async def delete_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhookAdmin, if_match: IfMatch = None
) -> None:
    webhook = await _webhook(session, principal, webhook_id, for_update=True)
    check_if_match(if_match, webhook.version)
    await session.delete(webhook)


@router.get(
    "/webhooks/{webhook_id}/deliveries",
    operation_id="listWebhookDeliveries",
    summary="Delivery attempts, newest first",
    responses=problem_responses(404),
)
async def list_deliveries(
    webhook_id: uuid.UUID,
    session: SessionDep,
    principal: WebhookAdmin,
    params: ListParamsDep,
    status: str | None = None,
) -> Page[DeliveryRead]:
    webhook = await _webhook(session, principal, webhook_id)
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    rows, cursor = await paginate_rows(
        session, stmt, params, [SortKey(WebhookDelivery.id, descending=True)]
    )
    return Page(items=[DeliveryRead.model_validate(d) for d in rows], next_cursor=cursor)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    operation_id="retryWebhookDelivery",
    summary="Send a delivery again as soon as possible",
    responses=problem_responses(404),
)
async def retry_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, principal: WebhookAdmin
) -> DeliveryRead:
    webhook = await _webhook(session, principal, webhook_id)
    delivery = await session.scalar(
        select(WebhookDelivery).where(
            WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == webhook.id
        )
    )
    if delivery is None:
        raise DeliveryNotFound("No such delivery.")
    delivery.status = "pending"
    delivery.next_attempt_at = utcnow()
    delivery.locked_until = None
    await session.flush()
    return DeliveryRead.model_validate(delivery)


@router.post(
    "/webhooks/{webhook_id}/ping",
    operation_id="pingWebhook",
    status_code=202,
    summary="Queue a `webhook.ping` event for this endpoint only",
    responses=problem_responses(404),
)
async def ping_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhookAdmin
) -> DeliveryRead:
    webhook = await _webhook(session, principal, webhook_id)
    event_id = uuid.uuid4()
    delivery = WebhookDelivery(
        webhook_id=webhook.id,
        event_id=event_id,
        event_sequence=0,
        event_type="webhook.ping",
    )
    session.add(delivery)
    await session.flush()
    return DeliveryRead.model_validate(delivery)
