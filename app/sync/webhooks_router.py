"""Webhook endpoints: register, change, remove, inspect deliveries, retry, ping."""

import uuid
from typing import Annotated

from fastapi import Depends, Request, Response

from app.auth.policy import ADMINS, WRITE, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.etag import IfMatch, check_if_match, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.sync import webhooks
from app.sync.schemas import DeliveryRead, WebhookCreate, WebhookCreated, WebhookRead, WebhookUpdate

router = DomainRouter(tags=["webhooks"], responses=problem_responses(401, 403))
# Managing endpoints is the clinic's configuration (write); subscribing to an event also needs
# the read scope of what it carries (app/sync/subscriptions.py).
WebhookAdmin = Annotated[Principal, Depends(Policy(ADMINS, WRITE, api_clients=True))]


def _loopback_allowed(request: Request) -> bool:
    """Plain http to a loopback address: for local development only (a setting)."""
    return bool(request.app.state.settings.webhook_allow_http_loopback)


@router.get("/webhooks", operation_id="listWebhooks", summary="The clinic's webhook endpoints")
async def list_webhooks(
    session: SessionDep, principal: WebhookAdmin, params: ListParamsDep
) -> Page[WebhookRead]:
    return await webhooks.list_webhooks(session, principal, params)


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
    created = await webhooks.create_webhook(
        session, principal, body, allow_http_loopback=_loopback_allowed(request)
    )
    response.headers["Location"] = f"/v1/webhooks/{created.id}"
    set_etag(response, created.version)
    return created


@router.get(
    "/webhooks/{webhook_id}",
    operation_id="getWebhook",
    summary="One webhook endpoint",
    responses=problem_responses(404),
)
async def get_webhook(
    webhook_id: uuid.UUID, session: SessionDep, principal: WebhookAdmin, response: Response
) -> WebhookRead:
    webhook = await webhooks.get_webhook(session, principal, webhook_id)
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
    webhook = await webhooks.get_webhook(session, principal, webhook_id, for_update=True)
    check_if_match(if_match, webhook.version)
    read = await webhooks.update_webhook(
        session, principal, webhook, body, allow_http_loopback=_loopback_allowed(request)
    )
    set_etag(response, read.version)
    return read


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
    webhook = await webhooks.get_webhook(session, principal, webhook_id, for_update=True)
    check_if_match(if_match, webhook.version)
    await webhooks.delete_webhook(session, webhook)


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
    webhook = await webhooks.get_webhook(session, principal, webhook_id)
    return await webhooks.list_deliveries(session, webhook, params, status=status)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    operation_id="retryWebhookDelivery",
    summary="Send a delivery again as soon as possible",
    responses=problem_responses(404),
)
async def retry_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, principal: WebhookAdmin
) -> DeliveryRead:
    webhook = await webhooks.get_webhook(session, principal, webhook_id)
    return await webhooks.retry_delivery(session, webhook, delivery_id)


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
    webhook = await webhooks.get_webhook(session, principal, webhook_id)
    return await webhooks.ping_webhook(session, webhook)
