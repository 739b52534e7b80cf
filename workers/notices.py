"""Citizen notices: staged with the order change that owes them, sent by the `notify` job by email
(SMTP) and SMS (a provider; the built-in one keeps messages in an outbox), each change once."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import TYPE_CHECKING, Literal, Protocol

import msgspec
import redis
from redis.client import Pipeline

from contracts.base import Record
from contracts.calendar import WorkingCalendar
from contracts.deadlines import deadlines
from contracts.notices import NoticeFacts, NoticeKind, Text, notice_for, render
from contracts.orders import Order
from contracts.settings import Settings
from contracts.statuses import Status
from workers import keys

if TYPE_CHECKING:
    from workers.context import Context

log = logging.getLogger(__name__)

RETRIES = (60, 300, 1800, 7200)  # a channel that failed is tried again after these waits, then given up
LEASE_SECONDS = 120
BATCH = 100
LOG_LENGTH = 50
ENCODE = msgspec.json.Encoder().encode
Channel = Literal["email", "sms"]


class NoticeRecord(Record, frozen=True, kw_only=True):
    """One notice on one channel, as shown to clerks: the address masked, never the text's secrets."""

    kind: NoticeKind
    channel: Channel
    to: str  # masked: "09******78", "a***@example.vn"
    at: datetime
    outcome: Literal["sent", "kept", "retrying", "failed"]  # kept: in the outbox, no provider configured
    error: str | None = None


RECORD = msgspec.json.Decoder(NoticeRecord)


def mask(address: str) -> str:
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}***@{domain}"
    return address[:2] + "*" * max(0, len(address) - 4) + address[-2:]


# -- staging -----------------------------------------------------------------------------------------
def stage(pipe: Pipeline, old: Status, order: Order, now: datetime) -> bool:
    """Inside the order change's MULTI: the notice it owes, if any. True when one was staged."""
    kind = notice_for(old, order)
    if kind is None:
        return False
    pipe.zadd(keys.NOTICE_DUE, {f"{order.id}|{kind}|{now.timestamp():.6f}": now.timestamp()})
    return True


# -- transports --------------------------------------------------------------------------------------
class Sms(Protocol):
    def send(self, phone: str, text: str) -> Literal["sent", "kept"]: ...


class OutboxSms:
    """The built-in SMS 'provider': keeps each message in the store (`dd:outbox:sms`) for a person or a
    test to read. A real one (a brandname SMS gateway) implements `send` and is chosen by DD_SMS_PROVIDER."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def send(self, phone: str, text: str) -> Literal["sent", "kept"]:
        _keep(self.client, "sms", {"to": phone, "text": text})
        return "kept"


OUTBOX_LENGTH = 10_000  # it holds phone numbers and addresses: the newest only, not forever


def _keep(client: redis.Redis, channel: str, message: dict[str, str]) -> None:
    with client.pipeline(transaction=False) as pipe:
        pipe.rpush(keys.outbox(channel), ENCODE(message))
        pipe.ltrim(keys.outbox(channel), -OUTBOX_LENGTH, -1)
        pipe.execute()


def send_email(settings: Settings, client: redis.Redis, to: str, text: Text) -> Literal["sent", "kept"]:
    message = EmailMessage()
    message["From"] = settings.dd_smtp_from
    message["To"] = to
    message["Subject"] = text.subject
    message.set_content(text.body)  # UTF-8: Vietnamese diacritics as they are
    if not settings.dd_smtp_host:
        _keep(client, "email", {"to": to, "subject": text.subject, "text": text.body})
        return "kept"
    with smtplib.SMTP(settings.dd_smtp_host, settings.dd_smtp_port, timeout=15) as smtp:
        if settings.dd_smtp_starttls:
            smtp.starttls()
        if settings.dd_smtp_username:
            smtp.login(settings.dd_smtp_username, settings.dd_smtp_password or "")
        smtp.send_message(message)
    return "sent"


# -- sending -----------------------------------------------------------------------------------------
def send_due(now: float, facts_of: Callable[[Order, NoticeKind, datetime], NoticeFacts], sms: Sms) -> int:
    """Send every notice that is due; returns how many notices were handled."""
    from workers.context import current

    ctx = current()
    client = ctx.store.client
    handled = 0
    for member in client.zrangebyscore(keys.NOTICE_DUE, "-inf", now, start=0, num=BATCH):
        due = member.decode()
        if not client.set(f"{keys.NOTICE_DUE}:lock:{due}", 1, nx=True, ex=LEASE_SECONDS):
            continue
        try:
            _send(ctx.settings, client, due, now, facts_of, sms)
            handled += 1
        finally:
            client.delete(f"{keys.NOTICE_DUE}:lock:{due}")
    return handled


def _send(
    settings: Settings,
    client: redis.Redis,
    due: str,
    now: float,
    facts_of: Callable[[Order, NoticeKind, datetime], NoticeFacts],
    sms: Sms,
) -> None:
    from workers.store import unpack_order

    order_id, kind, changed = due.split("|", 2)
    raw = client.get(keys.order(order_id))
    if raw is None:
        client.zrem(keys.NOTICE_DUE, due)
        return
    order = unpack_order(raw)
    at = datetime.fromtimestamp(float(changed), UTC)
    notice: NoticeKind = kind  # type: ignore[assignment]
    text = render(notice, facts_of(order, notice, at), order.citizen.language)
    sent = {RECORD.decode(r).channel for r in client.lrange(keys.notices(order_id), 0, -1) if _same(r, notice, at)}
    channels: list[tuple[Channel, str]] = [("sms", order.citizen.phone)]
    if order.citizen.email:
        channels.append(("email", order.citizen.email))
    waits: list[int] = []
    for channel, to in channels:
        if channel in sent:  # a retry after one channel worked: the other one only
            continue
        try:
            outcome = sms.send(to, text.body) if channel == "sms" else send_email(settings, client, to, text)
            _record(client, order_id, NoticeRecord(kind=notice, channel=channel, to=mask(to), at=at, outcome=outcome))
        except Exception as error:  # any provider's failure: this channel waits, the others go on
            log.warning("notice %s of order %s by %s failed: %s", notice, order_id, channel, type(error).__name__)
            tries = client.hincrby(f"{keys.NOTICE_DUE}:tries", f"{due}|{channel}", 1)
            if tries > len(RETRIES):
                _record(client, order_id, NoticeRecord(
                    kind=notice, channel=channel, to=mask(to), at=at, outcome="failed", error=type(error).__name__,
                ))  # fmt: skip
            else:
                waits.append(RETRIES[tries - 1])
    if waits:  # the soonest retry of a failed channel; channels that worked are not sent again
        client.zadd(keys.NOTICE_DUE, {due: now + min(waits)})
    else:
        client.zrem(keys.NOTICE_DUE, due)
        client.hdel(f"{keys.NOTICE_DUE}:tries", *(f"{due}|{channel}" for channel, _ in channels))


def _same(raw: bytes, kind: str, at: datetime) -> bool:
    record = RECORD.decode(raw)
    return record.kind == kind and record.at == at and record.outcome in ("sent", "kept")


def _record(client: redis.Redis, order_id: str, record: NoticeRecord) -> None:
    client.rpush(keys.notices(order_id), ENCODE(record))
    client.ltrim(keys.notices(order_id), -LOG_LENGTH, -1)


def sent(client: redis.Redis, order_id: str) -> list[NoticeRecord]:
    return [RECORD.decode(raw) for raw in client.lrange(keys.notices(order_id), 0, -1)]


def facts_for(ctx: Context) -> Callable[[Order, NoticeKind, datetime], NoticeFacts]:
    """What the texts may say about an order, read when the notice is sent."""
    calendar = WorkingCalendar()

    def facts(order: Order, kind: NoticeKind, at: datetime) -> NoticeFacts:
        timeline = ctx.store.timeline(order.id)
        centre = ctx.config.centres.get(order.centre)
        plan = deadlines(order, timeline, centre, calendar)
        applied = [e.event for e in timeline.entries if e.applied]
        held = [e for e in applied if e.status is Status.HELD_FOR_COLLECTION]
        return NoticeFacts(
            dossier_code=order.dossier_code,
            centre_name=centre.name if centre else order.centre,
            courier=order.courier,
            tracking_code=order.tracking_code,
            at=applied[-1].event_time if applied else at,  # the courier's time of the step, not ours
            result_date=order.appointment_date,
            next_attempt=plan.next_attempt_due,
            place=held[-1].location if held else None,
        )

    return facts
