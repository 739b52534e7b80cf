"""The store's key layout, in one place."""

from __future__ import annotations

PREFIX = "dd"


def order(order_id: str) -> str:
    return f"{PREFIX}:order:{order_id}"


def events(order_id: str) -> str:
    return f"{PREFIX}:order:{order_id}:events"


def money(order_id: str) -> str:
    return f"{PREFIX}:order:{order_id}:money"


def centre_orders(centre: str) -> str:
    return f"{PREFIX}:centre:{centre}:orders"


def tracking(courier: str, tracking_code: str) -> str:
    return f"{PREFIX}:tracking:{courier}:{tracking_code}"


def dossier(centre: str, dossier_code: str) -> str:
    """The legs (order ids) of one dossier: a round trip has two."""
    return f"{PREFIX}:dossier:{centre}:{dossier_code}"


def actions(order_id: str) -> str:
    """Clerk decisions on an order (cancel, redeliver, return, release) and what the courier said."""
    return f"{PREFIX}:order:{order_id}:actions"


def idempotency(centre: str, key: str) -> str:
    return f"{PREFIX}:idem:{centre}:{key}"


def api_key(digest: str) -> str:
    return f"{PREFIX}:apikey:{digest}"


def callbacks(courier: str) -> str:
    """Raw callback bytes, appended before any parsing."""
    return f"{PREFIX}:callbacks:{courier}"


def ingest_kick(courier: str) -> str:
    """Set while an ingest job for the courier is queued or running: intake need not queue another
    (the job gives it back when a read finds nothing; it expires after 60 s, should the job die)."""
    return f"{PREFIX}:callbacks:{courier}:kick"


ADMIT = f"{PREFIX}:admit"  # order ids waiting to be admitted, by when: each order's first job (DESIGN.md rule 2)
BOOKING_JOBS = f"{PREFIX}:booking"  # order id -> the RQ job that books it (one job books several orders)
ADMIT_KICK = f"{PREFIX}:admit:kick"


def booking_alive(job_id: str) -> str:
    """Set by a booking job before each order it books: the sweep tells a killed job from a long one."""
    return f"{PREFIX}:booking:alive:{job_id}"


# set while an admission job is queued: the next order need not queue one


def active(courier: str) -> str:
    """Orders booked at a courier and not finished, scored by their last change (epoch seconds)."""
    return f"{PREFIX}:active:{courier}"


def closing(courier: str) -> str:
    """Orders that just finished, waiting for their last poll, scored by when they finished."""
    return f"{PREFIX}:closing:{courier}"


def quarantine(courier: str) -> str:
    """Stream ids of callbacks for orders we did not know when they came, scored by receipt (ms)."""
    return f"{PREFIX}:quarantine:{courier}"


REJECTED_CALLBACKS = f"{PREFIX}:callbacks:rejected"
REJECTED_COUNTS = f"{PREFIX}:callbacks:rejected:count"  # per courier, since the store began
ORPHAN_CALLBACKS = f"{PREFIX}:callbacks:orphans"
DUE = f"{PREFIX}:due"  # orders in an internal state, scored by the time they are overdue
INGEST_GROUP = "ingest"


def dispatch_lock(order_id: str) -> str:
    return f"{PREFIX}:lock:dispatch:{order_id}"


def breaker(courier: str) -> str:
    return f"{PREFIX}:breaker:{courier}"


SCHEDULER_LOCK = f"{PREFIX}:lock:scheduler"
FSYNC_PROBE = f"{PREFIX}:fsync-probe"  # written just before WAITAOF, see Store.make_durable


# -- outbound webhooks -------------------------------------------------------------------------------
def wh_endpoints(centre: str) -> str:
    """A centre's webhook endpoints: endpoint id -> Endpoint."""
    return f"{PREFIX}:wh:endpoints:{centre}"


WH_OWNERS = f"{PREFIX}:wh:owners"  # endpoint id -> centre


def wh_message(message_id: str) -> str:
    return f"{PREFIX}:wh:msg:{message_id}"


WH_FANOUT = f"{PREFIX}:wh:fanout"  # messages not yet spread over their endpoints, scored by creation
WH_DUE = f"{PREFIX}:wh:due"  # "<message id>|<endpoint id>" scored by when the next attempt is due
WH_TRIMMED = f"{PREFIX}:wh:trimmed"  # set for an hour after the sweep forgot expired delivery states
WH_KICK = f"{PREFIX}:wh:kick"  # set while a delivery job is queued: writers need not queue another


def wh_state(endpoint_id: str) -> str:
    """Per message: attempts so far, delivered / failed / pending, the last answer."""
    return f"{PREFIX}:wh:state:{endpoint_id}"


def wh_failed(endpoint_id: str) -> str:
    """Messages given up on (schedule exhausted, endpoint disabled), scored by message time, for recovery."""
    return f"{PREFIX}:wh:failed:{endpoint_id}"


def wh_log(endpoint_id: str) -> str:
    """The endpoint's delivery log, newest first, capped."""
    return f"{PREFIX}:wh:log:{endpoint_id}"


def wh_lock(delivery: str) -> str:
    return f"{PREFIX}:wh:lock:{delivery}"


# -- citizen notices --------------------------------------------------------------------------------
NOTICE_DUE = f"{PREFIX}:notice:due"  # "<order id>|<kind>|<change time>" scored by when to (re)try


def notices(order_id: str) -> str:
    """What was sent to the citizen about an order, by which channel, with what outcome."""
    return f"{PREFIX}:order:{order_id}:notices"


def outbox(channel: str) -> str:
    """Messages a channel without a configured provider keeps instead of sending (dev, tests)."""
    return f"{PREFIX}:outbox:{channel}"


def report(centre: str, month: str) -> str:
    """A centre's report counters for one month ("YYYY-MM"): `<courier>|<kind>|<metric>` -> amount."""
    return f"{PREFIX}:report:{centre}:{month}"


def report_totals(centre: str) -> str:
    """What a centre received and returned through every channel, by month, as it reported them."""
    return f"{PREFIX}:report:{centre}:totals"


def statement(centre: str, statement_id: str) -> str:
    """One imported courier statement and its reconciliation (JSON)."""
    return f"{PREFIX}:statement:{centre}:{statement_id}"


def statements(centre: str) -> str:
    """A centre's imported statements, scored by import time."""
    return f"{PREFIX}:statements:{centre}"


def user(username: str) -> str:
    return f"{PREFIX}:user:{username}"


def session(digest: str) -> str:
    """A console session by the SHA-256 of its cookie token; expires with the session."""
    return f"{PREFIX}:session:{digest}"


def rate(bucket: str, window: int) -> str:
    return f"{PREFIX}:rate:{bucket}:{window}"


def changes(centre: str) -> str:
    """Pub/sub channel: "<order id> <status>" each time one of the centre's orders changes (live views)."""
    return f"{PREFIX}:changes:{centre}"


def result_ready(centre: str, dossier_code: str) -> str:
    """Set when the centre says a dossier's result is ready: the citizen may ask for home delivery."""
    return f"{PREFIX}:ready:{centre}:{dossier_code}"


def home_request(request_id: str) -> str:
    """A citizen's home-delivery request waiting for its one-time code."""
    return f"{PREFIX}:home:{request_id}"


def statement_heads(centre: str) -> str:
    """Each imported statement's summary without its lines, by id: the list reads these."""
    return f"{PREFIX}:statements:{centre}:heads"


REPLACEMENTS = f"{PREFIX}:replacements"  # re-routed orders on hold until the first courier confirms its cancel


def reroute_lock(order_id: str) -> str:
    return f"{PREFIX}:lock:reroute:{order_id}"


AUDIT = f"{PREFIX}:audit"  # the sealed, hash-chained log (stream)
AUDIT_PENDING = f"{PREFIX}:audit:pending"  # entries staged by changes, waiting to be chained
AUDIT_HEAD = f"{PREFIX}:audit:head"  # {count, hash} of the sealed log
AUDIT_LOCK = f"{PREFIX}:audit:lock"


FINISHED = f"{PREFIX}:finished"  # orders in a terminal status, scored by when they got there (retention)
RETENTION_RAN = f"{PREFIX}:retention:ran"  # set for an hour after a retention pass
RETENTION_LOCK = f"{PREFIX}:retention:lock"
RETENTION_BACKFILLED = f"{PREFIX}:retention:backfilled"  # orders finished before the index were added
