"""The background worker: fans events out to webhooks, delivers them signed with retries,
announces due reminders, and purges expired idempotency keys.

Any number of workers may run side by side on PostgreSQL: deliveries and reminders are
claimed with `SELECT ... FOR UPDATE SKIP LOCKED` (and a lease, `locked_until`, so a crashed
worker's claims come back), fan-out locks each clinic's cursor row (so that workers take on
different clinics, each in its commit order), and every announcement has a unique key. With
the embedded SQLite default one worker runs inside `serve`.
"""

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import Update, delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.assignments.models import Assignment, AssignmentStatus
from app.assignments.occurrences import Timeline, load_timelines
from app.assignments.schedules import Reminders
from app.assignments.service import refresh_next_reminder
from app.core.clinic_cursors import add_missing_cursors, claim_behind, unread
from app.core.idempotency import IdempotencyRecord
from app.core.outbox import Event, record_event
from app.core.time import utcnow
from app.core.transactions import writing
from app.programs.worker import release_due_steps
from app.support.worker import evaluate_support
from app.sync.backoff import next_retry_delay, should_disable_endpoint
from app.sync.models import DispatchCursor, SentReminder, Webhook, WebhookDelivery
from app.sync.pinned import post_pinned
from app.sync.signing import signature_headers
from app.sync.subscriptions import readers_among, scopes_to_hear
from app.sync.urls import UnsafeWebhookUrl, check_webhook_url

logger = logging.getLogger("homework.worker")
LEASE = timedelta(seconds=60)
DELIVERY_TIMEOUT = 10.0
STALE_REMINDER = timedelta(hours=1)
CLINICS_PER_BATCH = 100  # clinics one fan-out transaction takes on
BATCHES_PER_ROUND = 20  # fan-out transactions of one worker round, at most
EVENTS_PER_CLINIC = 500  # events of one clinic it takes on


def _endpoint_changed(webhook_id: uuid.UUID, *conditions: Any) -> Update:
    """An UPDATE of one endpoint that also bumps its version (its ETag changes, as when the
    ORM writes it), without the ORM's read-then-check of the version."""
    return (
        update(Webhook)
        .where(Webhook.id == webhook_id, *conditions)
        .values(version=Webhook.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def event_body(event: Event | None, delivery: WebhookDelivery, webhook: Webhook) -> bytes:
    if event is None:  # a ping has no outbox row
        document: dict[str, Any] = {
            "id": str(delivery.event_id),
            "sequence": 0,
            "type": "webhook.ping",
            "resource_type": "webhook",
            "resource_id": str(webhook.id),
            "client_id": None,
            "clinic_id": str(webhook.clinic_id),
            "occurred_at": delivery.created_at.isoformat(),
            "data": {"id": str(webhook.id)},
        }
    else:
        document = {
            "id": str(event.id),
            "sequence": event.sequence,
            "type": event.type,
            "resource_type": event.resource_type,
            "resource_id": str(event.resource_id),
            "client_id": str(event.client_id) if event.client_id else None,
            "clinic_id": str(event.clinic_id),
            "occurred_at": event.occurred_at.isoformat(),
            "data": event.payload,
        }
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Worker:
    sessionmaker: async_sessionmaker[AsyncSession]
    allow_http_loopback: bool = False
    batch: int = 50
    http: httpx.AsyncClient | None = None
    stats: dict[str, int] = field(
        default_factory=lambda: {"fanned_out": 0, "delivered": 0, "failed": 0, "reminders": 0}
    )

    def _postgres(self, session: AsyncSession) -> bool:
        return session.get_bind().dialect.name == "postgresql"

    async def run_once(self) -> dict[str, int]:
        await self.fan_out()
        await self.deliver_due()
        await self.announce_reminders()
        await self.purge()
        await evaluate_support(self.sessionmaker)
        await release_due_steps(self.sessionmaker)
        return self.stats

    async def run_forever(self, interval: float, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once()
            except Exception:  # keep serving; the next round retries
                logger.exception("worker round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    async def fan_out(self) -> int:
        """One delivery per (matching webhook, event), exactly once across workers. Each
        clinic's feed has its own cursor: workers fan out different clinics side by side
        (`SKIP LOCKED`), and within a clinic in its commit order."""
        async with writing(self.sessionmaker) as session:
            await add_missing_cursors(session, DispatchCursor)
        made = 0
        # A transaction per batch of clinics, until none is behind (or the round's share is
        # done): clinics past the first batch are not left waiting for a quiet moment.
        for _ in range(BATCHES_PER_ROUND):
            async with writing(self.sessionmaker) as session:
                cursors = await claim_behind(session, DispatchCursor, CLINICS_PER_BATCH)
                if not cursors:
                    break
                clinic_ids = [cursor.clinic_id for cursor, _ in cursors]
                hooks = await self._hooks_of(session, clinic_ids)
                for cursor, last in cursors:
                    made += await self._fan_out_clinic(session, cursor, last, hooks)
        self.stats["fanned_out"] += made
        return made

    async def _hooks_of(
        self, session: AsyncSession, clinic_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[Webhook]]:
        """The active endpoints of these clinics whose owners still read what they hear."""
        found = (
            await session.execute(
                select(Webhook).where(Webhook.active.is_(True), Webhook.clinic_id.in_(clinic_ids))
            )
        ).scalars()
        hooks: dict[uuid.UUID, list[Webhook]] = {}
        for hook in await self._heard_by_owners(session, list(found)):
            hooks.setdefault(hook.clinic_id, []).append(hook)
        return hooks

    async def _fan_out_clinic(
        self,
        session: AsyncSession,
        cursor: DispatchCursor,
        last: int,
        hooks: dict[uuid.UUID, list[Webhook]],
    ) -> int:
        """The next events of one clinic after its cursor. Every number up to `last` (the
        counter as committed) belongs to a committed event, so none is passed over."""
        listeners = hooks.get(cursor.clinic_id, [])
        if not listeners:  # nobody to tell: the cursor moves on without reading the events
            cursor.last_sequence = last
            return 0
        events = (
            await session.execute(
                select(Event)
                .where(*unread(cursor, last))
                .order_by(Event.sequence)
                .limit(EVENTS_PER_CLINIC)
            )
        ).scalars()
        made = 0
        for event in events:
            for hook in listeners:
                if event.type in hook.event_types:
                    session.add(
                        WebhookDelivery(
                            clinic_id=event.clinic_id,
                            webhook_id=hook.id,
                            event_id=event.id,
                            event_sequence=event.sequence,
                            event_type=event.type,
                        )
                    )
                    made += 1
            cursor.last_sequence = event.sequence
        return made

    async def _claim(self) -> list[uuid.UUID]:
        now = utcnow()
        async with writing(self.sessionmaker) as session:
            stmt = (
                select(WebhookDelivery)
                .where(
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at <= now,
                    or_(WebhookDelivery.locked_until.is_(None), WebhookDelivery.locked_until < now),
                )
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(self.batch)
            )
            if self._postgres(session):
                stmt = stmt.with_for_update(skip_locked=True)
            claimed = list((await session.execute(stmt)).scalars())
            for delivery in claimed:
                delivery.locked_until = now + LEASE
                delivery.attempts += 1
            return [d.id for d in claimed]

    async def deliver_due(self) -> int:
        ids = await self._claim()
        if not ids:
            return 0
        # No proxy from the environment: a proxy would resolve the name again (and tunnel with
        # the IP as TLS name), undoing the address check that pins each delivery.
        client = self.http or httpx.AsyncClient(
            timeout=DELIVERY_TIMEOUT, follow_redirects=False, trust_env=False
        )
        try:
            # Each attempt records its own outcome; one that fails unexpectedly must not cut
            # the others short (their client would be closed under them).
            outcomes = await asyncio.gather(
                *(self._deliver(client, d) for d in ids), return_exceptions=True
            )
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    logger.error("delivery attempt failed", exc_info=outcome)
        finally:
            if self.http is None:
                await client.aclose()
        return len(ids)

    async def _deliver(self, client: httpx.AsyncClient, delivery_id: uuid.UUID) -> None:
        async with self.sessionmaker() as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            assert delivery is not None
            webhook = await session.get(Webhook, delivery.webhook_id)
            event = await session.scalar(
                select(Event).where(
                    Event.clinic_id == delivery.clinic_id, Event.id == delivery.event_id
                )
            )
            owner_reads = webhook is not None and (
                not scopes_to_hear([delivery.event_type])
                or webhook.id in await readers_among(session, [webhook])
            )
        if webhook is None:
            return
        if not owner_reads:
            await self._stop(delivery_id, "owner no longer holds the scope to read this event")
            return
        body = event_body(event, delivery, webhook)
        status_code, error = None, None
        try:
            # Checked again now: the host's addresses may have changed since registration. The
            # request goes to an address this check approved, not to a second lookup's answer.
            target = await check_webhook_url(
                webhook.url, allow_http_loopback=self.allow_http_loopback
            )
            headers = signature_headers(str(delivery.event_id), webhook.secret, body)
            headers["Content-Type"] = "application/json"
            response = await post_pinned(
                client, target, content=body, headers=headers, request_timeout=DELIVERY_TIMEOUT
            )
            status_code = response.status_code
            ok = 200 <= status_code < 300
            if not ok:
                error = f"HTTP {status_code}"
        except UnsafeWebhookUrl as exc:
            ok, error = False, f"unsafe url: {exc}"[:500]
        except httpx.HTTPError as exc:
            ok, error = False, f"{type(exc).__name__}"[:500]
        await self._record(delivery_id, ok, status_code, error)

    async def _heard_by_owners(self, session: AsyncSession, hooks: list[Webhook]) -> list[Webhook]:
        """The endpoints whose owner still reads what they subscribed to; the others are
        disabled (announced as `webhook.disabled`) and receive nothing more."""
        readers = await readers_among(session, hooks)
        for hook in hooks:
            if hook.id not in readers:
                # One statement, as delivery outcomes change an endpoint: a concurrent change of
                # its version cannot fail the round, and only the worker that disables it
                # announces it.
                disabled = await session.scalar(
                    _endpoint_changed(hook.id, Webhook.active.is_(True))
                    .values(active=False, disabled_at=utcnow())
                    .returning(Webhook.id)
                )
                if disabled is not None:
                    self._announce_disabled(session, hook, "owner_lost_scope")
        return [hook for hook in hooks if hook.id in readers]

    def _announce_disabled(self, session: AsyncSession, webhook: Webhook, reason: str) -> None:
        record_event(
            session,
            "webhook.disabled",
            resource_type="webhook",
            resource_id=webhook.id,
            clinic_id=webhook.clinic_id,
            client_id=None,
            payload={
                "id": str(webhook.id),
                "url": webhook.url,
                "consecutive_failures": webhook.consecutive_failures,
                "reason": reason,
            },
        )

    async def _stop(self, delivery_id: uuid.UUID, reason: str) -> None:
        """Give a delivery up without sending it (no retry)."""
        async with writing(self.sessionmaker) as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            if delivery is not None:
                delivery.status, delivery.next_attempt_at = "failed", None
                delivery.last_error, delivery.locked_until = reason, None
                delivery.last_attempt_at = utcnow()
        self.stats["failed"] += 1

    async def _record(
        self, delivery_id: uuid.UUID, ok: bool, status_code: int | None, error: str | None
    ) -> None:
        """The attempt's outcome on its delivery, and on its endpoint's failure count. Attempts
        of one batch, and of other workers, finish at the same time: the endpoint's row is
        changed by single statements (count, reset, disable), never read and written back."""
        now = utcnow()
        async with writing(self.sessionmaker) as session:
            delivery = await session.get(WebhookDelivery, delivery_id)
            if delivery is None:
                return
            delivery.last_attempt_at, delivery.last_status_code = now, status_code
            delivery.last_error, delivery.locked_until = error, None
            if ok:
                delivery.status, delivery.next_attempt_at = "succeeded", None
                await session.execute(
                    _endpoint_changed(
                        delivery.webhook_id, Webhook.consecutive_failures != 0
                    ).values(consecutive_failures=0)
                )
                self.stats["delivered"] += 1
                return
            self.stats["failed"] += 1
            delay = next_retry_delay(delivery.attempts)
            if delay is None:
                delivery.status, delivery.next_attempt_at = "failed", None
            else:
                delivery.next_attempt_at = now + timedelta(seconds=delay)
            failures = await session.scalar(
                _endpoint_changed(delivery.webhook_id)
                .values(consecutive_failures=Webhook.consecutive_failures + 1)
                .returning(Webhook.consecutive_failures)
            )
            if failures is None or not should_disable_endpoint(failures):
                return
            disabled = await session.scalar(
                _endpoint_changed(delivery.webhook_id, Webhook.active.is_(True))
                .values(active=False, disabled_at=now)
                .returning(Webhook.id)
            )
            if disabled is not None:  # this attempt disabled it: announced once
                webhook = await session.get(Webhook, disabled, populate_existing=True)
                assert webhook is not None
                self._announce_disabled(session, webhook, "consecutive_failures")

    async def announce_reminders(self) -> int:
        """`assignment.reminder_due` once per reminder instant, whatever the number of workers."""
        now = utcnow()
        announced = 0
        async with writing(self.sessionmaker) as session:
            stmt = (
                select(Assignment)
                .where(
                    Assignment.status == AssignmentStatus.active,
                    Assignment.next_reminder_at.is_not(None),
                    Assignment.next_reminder_at <= now,
                )
                .order_by(Assignment.next_reminder_at)
                .limit(self.batch)
            )
            if self._postgres(session):
                stmt = stmt.with_for_update(skip_locked=True)
            due = list((await session.execute(stmt)).scalars())
            timelines = await load_timelines(session, due)
            for assignment in due:
                remind_at = assignment.next_reminder_at
                assert remind_at is not None
                if now - remind_at <= STALE_REMINDER:
                    announced += await self._announce(session, assignment, remind_at, timelines)
                await refresh_next_reminder(session, assignment, after=remind_at)
        self.stats["reminders"] += announced
        return announced

    async def _announce(
        self,
        session: AsyncSession,
        assignment: Assignment,
        remind_at: datetime,
        timelines: dict[uuid.UUID, Timeline],
    ) -> int:
        reminders = Reminders.model_validate(assignment.reminders)
        occurrence = timelines[assignment.id].next_occurrence_at(remind_at - timedelta(seconds=1))
        try:
            async with session.begin_nested():
                session.add(
                    SentReminder(
                        clinic_id=assignment.clinic_id,
                        assignment_id=assignment.id,
                        remind_at=remind_at,
                        occurrence_due_at=occurrence or remind_at,
                    )
                )
        except IntegrityError:
            return 0
        record_event(
            session,
            "assignment.reminder_due",
            resource_type="assignment",
            resource_id=assignment.id,
            clinic_id=assignment.clinic_id,
            client_id=assignment.client_id,
            payload={
                "assignment_id": str(assignment.id),
                "title": assignment.title,
                "remind_at": remind_at.isoformat(),
                "occurrence_due_at": occurrence.isoformat() if occurrence else None,
                "minutes_before": reminders.minutes_before,
                "untimed_at": reminders.untimed_at,
            },
        )
        return 1

    async def purge(self) -> None:
        async with writing(self.sessionmaker) as session:
            await session.execute(
                delete(IdempotencyRecord).where(IdempotencyRecord.expires_at < utcnow())
            )
