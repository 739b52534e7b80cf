"""The RQ queues: one per kind of work, JSON-serialised jobs."""

from __future__ import annotations

import redis
from rq import Queue
from rq.serializers import JSONSerializer

QUEUES = ("dispatch", "ingest", "notify", "sweep")


def queue(name: str, connection: redis.Redis) -> Queue:
    return Queue(name, connection=connection, serializer=JSONSerializer)
