"""`execute_queued`: a WATCHed MULTI/EXEC sent packed, as `Pipeline.execute()` would run it."""

from __future__ import annotations

import pytest
import redis
from redis._parsers import _RESP2Parser

from workers.context import Context
from workers.store import _replies, execute_queued


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


@pytest.mark.parametrize("parser", ["hiredis", "python"])
def test_replies_split_over_many_reads_come_whole_and_in_order_with_either_parser(
    ctx: Context, parser: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = {} if parser == "hiredis" else {"parser_class": _RESP2Parser}
    pool = redis.ConnectionPool(**{**ctx.store.client.connection_pool.connection_kwargs, **options})
    client = redis.Redis(connection_pool=pool)
    try:
        big = [bytes([65 + n]) * 300_000 for n in range(8)]  # the EXEC's reply: 2.4 MB, many socket reads
        client.set("t:string", "v")
        with client.pipeline() as pipe:
            pipe.watch("t:watched")
            pipe.multi()
            for n, value in enumerate(big):
                pipe.set(f"t:big{n}", value)
                pipe.get(f"t:big{n}")
            pipe.lpush("t:string", 1)  # an error among the replies: raised after all were read
            pipe.set("t:last", 1)
            with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
                execute_queued(pipe)
        assert client.get("t:last") == b"1" and client.get("t:big7") == big[7]
        connection = pool.get_connection()
        try:
            if parser == "hiredis":  # read off hiredis's reader, never through `read_response`
                monkeypatch.setattr(connection, "read_response", None)
            connection.send_packed_command(connection.pack_commands([("GET", f"t:big{n}") for n in range(8)]))
            connection.send_packed_command(connection.pack_command("LPUSH", "t:string", 1))
            *values, refused = _replies(connection, 9)
            assert values == big and isinstance(refused, redis.ResponseError)
            monkeypatch.undo()
            connection.send_command("PING")
            assert connection.read_response() == b"PONG"  # nothing left unread: the connection is in step
        finally:
            pool.release(connection)
    finally:
        client.close()
        pool.disconnect()
