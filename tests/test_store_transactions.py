"""`execute_queued`: a WATCHed MULTI/EXEC sent packed, as `Pipeline.execute()` would run it."""

from __future__ import annotations

import pytest
import redis

from workers.context import Context
from workers.store import execute_queued


def test_a_transaction_runs_whole_and_a_watched_change_stops_it(ctx: Context) -> None:
    client = ctx.store.client
    client.set("t:watched", "1")
    with client.pipeline() as pipe:
        pipe.watch("t:watched")
        pipe.multi()
        pipe.set("t:a", 2.5)
        pipe.zadd("t:z", {"m": 1763800000.123456})
        execute_queued(pipe)
    assert client.get("t:a") == b"2.5" and client.zscore("t:z", "m") == 1763800000.123456
    with client.pipeline() as pipe:
        pipe.watch("t:watched")
        client.set("t:watched", "2")  # another writer, between the read and the EXEC
        pipe.multi()
        pipe.set("t:b", 1)
        with pytest.raises(redis.WatchError):
            execute_queued(pipe)
    assert not client.exists("t:b")


def test_errors_are_raised_as_execute_raises_them_and_the_connection_stays_usable(ctx: Context) -> None:
    client = ctx.store.client
    client.set("t:string", "v")
    with client.pipeline() as pipe:  # refused at run time: the rest runs, as in any MULTI/EXEC
        pipe.watch("t:string")
        pipe.multi()
        pipe.lpush("t:string", 1)
        pipe.set("t:after", 1)
        with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
            execute_queued(pipe)
    assert client.get("t:after") == b"1"
    with client.pipeline() as pipe:  # refused when queued: nothing runs
        pipe.watch("t:string")
        pipe.multi()
        pipe.execute_command("SET", "t:half")
        pipe.set("t:never", 1)
        with pytest.raises(redis.ResponseError, match="wrong number of arguments"):
            execute_queued(pipe)
    assert not client.exists("t:never")
    assert client.ping() and not client.connection_pool._in_use_connections  # every reply was read, all given back


def test_a_connection_lost_under_watch_is_a_watch_error_so_the_caller_reads_again(ctx: Context) -> None:
    client = ctx.store.client
    with client.pipeline() as pipe:
        pipe.watch("t:watched")
        watching = pipe.client_id()  # (in WATCH mode a command runs at once, on the watching connection)
        pipe.multi()
        pipe.set("t:c", 1)
        client.client_kill_filter(_id=watching)  # as a store restart would cut it
        with pytest.raises(redis.WatchError, match="connection broke"):
            execute_queued(pipe)
    assert not client.exists("t:c") and client.ping()


def test_what_redis_py_answers_itself_is_not_sent_and_a_bad_argument_is_a_data_error(ctx: Context) -> None:
    client = ctx.store.client
    with client.pipeline() as pipe:
        pipe.watch("t:watched")
        pipe.multi()
        pipe.mget([])  # answered by redis-py, never sent: sent, it would abort the EXEC
        pipe.set("t:d", 1)
        execute_queued(pipe)
    assert client.get("t:d") == b"1"
    with client.pipeline() as pipe:
        pipe.watch("t:watched")
        pipe.multi()
        pipe.execute_command("SET", "t:e", None)
        with pytest.raises(redis.DataError):
            execute_queued(pipe)
    assert not client.exists("t:e") and client.ping() and not client.connection_pool._in_use_connections
