"""The `notify` job: outbound webhooks and citizen notices, whatever is due, until nothing is."""

from __future__ import annotations

import time

from workers import audit, keys, notices, webhooks
from workers.context import current


def run() -> int:
    """Queued by `webhooks.kick` when a change staged messages or notices, and by every sweep."""
    ctx = current()
    client = ctx.store.client
    facts = notices.facts_for(ctx)
    sms = notices.OutboxSms(client)
    handled = 0
    while True:
        client.delete(keys.WH_KICK)  # from here on, a new change queues a new job (see `webhooks.kick`)
        now = time.time()
        done = webhooks.deliver_due(now=now) + notices.send_due(now, facts, sms)
        audit.seal(client)
        handled += done
        if not done:
            return handled
