"""`dossier-dispatch`: run the whole system (`dev`) or one part of it, and manage API keys."""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import MutableMapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import msgspec

from contracts.config import DEMO_CENTRE
from contracts.couriers.registry import KNOWN
from contracts.settings import Settings, settings_from
from workers.embedded import EmbeddedStore, ensure_store
from workers.store import SCOPES, Principal

log = logging.getLogger("dossier-dispatch")


def _load_dotenv(path: str = ".env", environ: MutableMapping[str, str] = os.environ) -> None:
    """Fill unset variables from a `.env` file in the working directory (KEY=VALUE lines, # comments)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        name, sep, value = line.strip().partition("=")
        if sep and name and not name.startswith("#"):
            environ.setdefault(name.strip().removeprefix("export ").strip(), value.strip().strip("\"'"))


def _settings() -> Settings:
    _load_dotenv()
    try:
        return settings_from(os.environ)
    except msgspec.ValidationError as error:
        sys.exit(f"bad setting: {error}")


def _logging(settings: Settings) -> None:
    logging.basicConfig(
        level=settings.dd_log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)


def run_api(settings: Settings) -> None:
    import uvicorn

    from service.app import create_app
    from workers.context import settle_garbage_collector

    app = create_app(settings)
    settle_garbage_collector()
    # proxy_headers off: who is asking is decided once, by DD_TRUSTED_PROXIES (`service.auth.client_address`).
    # uvicorn's own handling trusts X-Forwarded-For from 127.0.0.1 whatever that setting says. access_log off:
    # at level warning its lines are never written, but each answer still built one (~2 % of a callback's CPU).
    uvicorn.run(
        app,
        host=settings.dd_host,
        port=settings.dd_port,
        log_level="warning",
        proxy_headers=False,
        access_log=False,
    )


def run_sandbox(settings: Settings) -> None:
    import uvicorn

    from service.sandboxes.app import create_sandbox_app

    app = create_sandbox_app(settings)
    uvicorn.run(app, host=settings.dd_host, port=settings.dd_sandbox_port, log_level="warning")


def run_worker(queue_name: str, burst: bool = False) -> None:
    from rq import SimpleWorker
    from rq.serializers import JSONSerializer

    from workers.context import current, settle_garbage_collector
    from workers.queues import QUEUES, queue

    if queue_name not in QUEUES:
        sys.exit(f"unknown queue {queue_name!r}; one of {', '.join(QUEUES)}")
    ctx = current()  # store, config and HTTP clients built once per process, reused by every job
    # SimpleWorker: no fork per job, so the process keeps its clients (DESIGN.md, measured costs).
    worker = SimpleWorker([queue(queue_name, ctx.store.client)], connection=ctx.store.client, serializer=JSONSerializer)
    settle_garbage_collector()
    # RQ logs three lines per job at INFO; keep the console readable unless asked for DEBUG.
    level = ctx.settings.dd_log_level.upper()
    worker.work(burst=burst, with_scheduler=True, logging_level="WARNING" if level == "INFO" else level)


def run_scheduler(settings: Settings) -> None:
    """Enqueue the periodic sweep; a lock keeps a second scheduler idle until the first one dies."""
    from workers import keys
    from workers.context import current
    from workers.queues import queue

    ctx = current()
    client = ctx.store.client
    ttl = max(10, int(settings.dd_sweep_interval_seconds * 3))
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        holder = (
            client.set(keys.SCHEDULER_LOCK, token, nx=True, ex=ttl) or client.get(keys.SCHEDULER_LOCK) == token.encode()
        )
        if holder:
            client.expire(keys.SCHEDULER_LOCK, ttl)
            queue("sweep", client).enqueue_call("workers.jobs.sweep", timeout=120, result_ttl=0, failure_ttl=86400)
        time.sleep(settings.dd_sweep_interval_seconds)
    if client.get(keys.SCHEDULER_LOCK) == token.encode():
        client.delete(keys.SCHEDULER_LOCK)


def create_key(centre: str, scopes: Sequence[str]) -> str:
    from workers.context import current

    secret = "dd_" + secrets.token_urlsafe(24)
    current().store.save_api_key(secret, Principal(centre=centre, scopes=tuple(sorted(set(scopes)))))
    return secret


def _wait_for_ports(
    host: str, ports: list[int], children: list[subprocess.Popen[bytes]], stop: list[int], seconds: float = 30
) -> None:
    deadline = time.monotonic() + seconds
    for port in ports:
        while time.monotonic() < deadline and not stop and all(child.poll() is None for child in children):
            try:
                socket.create_connection((host, port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.05)


def run_dev(settings: Settings) -> int:
    """Everything on 127.0.0.1 with the embedded store; Ctrl-C or SIGTERM stops every child."""
    received: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        received.append(signum)

    # Before anything starts, so a signal that comes while children are being spawned still stops them all.
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ)
    env.setdefault("DD_DEV_API_KEY", "dd_dev_" + secrets.token_urlsafe(18))
    env.setdefault("DD_DEV_CALLBACK_SECRET", secrets.token_urlsafe(24))
    env.setdefault("DD_DEV_CONSOLE_PASSWORD", secrets.token_urlsafe(12))
    env.setdefault("DD_WEBHOOK_EGRESS", "loopback")  # a receiver on this machine is the usual dev setup
    store: EmbeddedStore | None = None
    if not settings.redis_url:
        store = ensure_store(settings.dd_data_dir)
        env["REDIS_URL"] = store.url
    os.environ.update(env)
    settings = settings_from(env)

    from workers.context import current

    current().store.save_api_key(env["DD_DEV_API_KEY"], Principal(centre=DEMO_CENTRE))
    from workers.users import create_user

    create_user(current().store, username="demo", centre=DEMO_CENTRE, name="Cán bộ một cửa (demo)",
                password=env["DD_DEV_CONSOLE_PASSWORD"], replace=True)  # fmt: skip

    from workers.queues import QUEUES

    def spawn(part: list[str]) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "service.cli", *part], env=env)

    # The HTTP servers first, so the first jobs do not meet a refused connection and wait out a retry.
    parts = [["api"], ["sandbox"]]
    children = [spawn(part) for part in parts]
    _wait_for_ports(settings.dd_host, [settings.dd_port, settings.dd_sandbox_port], children, received)
    for part in [["scheduler"], *(["worker", q] for q in QUEUES)]:
        if received:
            break
        parts.append(part)
        children.append(spawn(part))
    print(
        f"""
dossier-dispatch is running
  API          {settings.public_url}   (OpenAPI: {settings.public_url}/schema/openapi.json)
  sandboxes    {settings.sandbox_url}   (GHN: {settings.sandbox_url}/ghn/shiip/public-api)
  store        {env["REDIS_URL"]}   (data: {settings.dd_data_dir})
  API key      {env["DD_DEV_API_KEY"]}   (centre {DEMO_CENTRE})
  console      {settings.public_url}/console   (user demo, password {env["DD_DEV_CONSOLE_PASSWORD"]})
  tracking     {settings.public_url}/track
  callback secret  {env["DD_DEV_CALLBACK_SECRET"]}
Ctrl-C stops everything.""",
        flush=True,
    )
    code = 0
    restarts: dict[int, list[float]] = {}  # per part: when it was restarted
    try:
        while not received and code == 0:
            if store is not None and store.process is not None and store.process.poll() is not None:
                # The store died (kill -9, OOM): start it again on its AOF, on the same port when free.
                print(f"the store exited with {store.process.returncode}; restarting it", file=sys.stderr, flush=True)
                store = ensure_store(settings.dd_data_dir)
                if store.url != env["REDIS_URL"]:  # another port: every part must be told
                    env["REDIS_URL"] = store.url
                    for index, child in enumerate(children):
                        child.terminate()
                        child.wait()
                        children[index] = spawn(parts[index])
            for index, (part, child) in enumerate(zip(parts, children, strict=True)):
                if child.poll() is None:
                    continue
                # A crashed part is restarted, as a supervisor would; a part that keeps crashing stops all.
                # Counted per part: a store crash makes every part exit at once, and that is no loop.
                now = time.monotonic()
                restarts[index] = [t for t in restarts.get(index, []) if now - t < 60] + [now]
                if len(restarts[index]) > 10:
                    print(f"{' '.join(part)} keeps exiting ({child.returncode}); stopping everything", file=sys.stderr)
                    code = 1
                    break
                print(f"{' '.join(part)} exited with {child.returncode}; restarting it", file=sys.stderr, flush=True)
                children[index] = spawn(part)
            time.sleep(0.2)
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + 10
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if store is not None:
            store.stop()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dossier-dispatch", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("dev", help="run everything locally with the embedded store")
    sub.add_parser("api", help="run the HTTP API on DD_HOST:DD_PORT")
    worker = sub.add_parser("worker", help="run one worker on one queue")
    worker.add_argument("queue", help="dispatch, ingest, notify or sweep")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    sub.add_parser("scheduler", help="enqueue periodic sweeps")
    sub.add_parser("sandbox", help="run the courier sandboxes on DD_HOST:DD_SANDBOX_PORT")
    sub.add_parser("store", help="start (or find) the embedded store and print its URL")
    keys = sub.add_parser("keys", help="manage API keys")
    keys_sub = keys.add_subparsers(dest="keys_command", required=True)
    create = keys_sub.add_parser("create", help="print a new API key once (stored hashed)")
    create.add_argument("--centre", required=True)
    create.add_argument(
        "--scope",
        action="append",
        choices=list(SCOPES),
        help="repeat for several; default orders:read, orders:write and webhooks:manage",
    )

    accounts = sub.add_parser("users", help="console accounts")
    accounts_sub = accounts.add_subparsers(dest="users_command", required=True)
    user = accounts_sub.add_parser("create", help="create a centre account (the password is read from stdin)")
    user.add_argument("--centre", required=True)
    user.add_argument("--username", required=True)
    user.add_argument("--name", required=True, help="the clerk's name, shown in the console")
    user.add_argument("--replace", action="store_true", help="set a new password for an existing account")

    callbacks = sub.add_parser("callbacks", help="stored raw callbacks")
    callbacks_sub = callbacks.add_subparsers(dest="callbacks_command", required=True)
    replay = callbacks_sub.add_parser("replay", help="re-run stored callbacks through the current mapping")
    replay.add_argument("--courier", required=True, choices=sorted(KNOWN))
    replay.add_argument("--since", required=True, help="ISO date or time (naive: Vietnam time), e.g. 2026-11-21")

    audit_log = sub.add_parser("audit", help="the hash-chained audit log")
    audit_sub = audit_log.add_subparsers(dest="audit_command", required=True)
    audit_sub.add_parser("verify", help="seal pending entries, then check every hash of the chain (exit 1 if broken)")

    keep = sub.add_parser("retention", help="archive finished orders and erase their personal data")
    keep_sub = keep.add_subparsers(dest="retention_command", required=True)
    keep_run = keep_sub.add_parser("run", help="archive and erase orders finished more than --days ago")
    keep_run.add_argument("--days", type=int, help="default DD_RETENTION_DAYS")

    reports = sub.add_parser("reports", help="the report counters")
    reports_sub = reports.add_subparsers(dest="reports_command", required=True)
    reports_sub.add_parser("rebuild", help="recount every stored order (stop the workers first)")

    statements = sub.add_parser("statements", help="courier COD and fee statements")
    statements_sub = statements.add_subparsers(dest="statements_command", required=True)
    load = statements_sub.add_parser("import", help="reconcile a statement file (CSV or XLSX) and keep the result")
    load.add_argument("file", type=Path)
    load.add_argument("--centre", required=True)
    load.add_argument("--courier", required=True, choices=sorted(KNOWN))
    load.add_argument("--from", dest="period_start", type=date.fromisoformat, help="period start, e.g. 2026-11-01")
    load.add_argument("--to", dest="period_end", type=date.fromisoformat, help="period end (included)")
    load.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="NAME=TITLE",
        help="the file's title for tracking_code, reference, cod or fee when it is not a known one",
    )

    args = parser.parse_args(argv)
    settings = _settings()
    _logging(settings)
    match args.command:
        case "dev":
            return run_dev(settings)
        case "api":
            run_api(settings)
        case "sandbox":
            run_sandbox(settings)
        case "worker":
            run_worker(args.queue, burst=args.burst)
        case "scheduler":
            run_scheduler(settings)
        case "store":
            print(ensure_store(settings.dd_data_dir).url)
        case "keys":
            print(create_key(args.centre, args.scope or list(Principal(centre=args.centre).scopes)))
        case "callbacks":
            from contracts.couriers import as_vietnam_time
            from workers.jobs import replay_callbacks

            since = as_vietnam_time(datetime.fromisoformat(args.since))
            count = replay_callbacks(args.courier, int(since.timestamp() * 1000))
            print(f"replayed {count} {args.courier} callbacks received since {since.isoformat()}")
        case "users":
            return create_account(args)
        case "retention":
            from workers import retention
            from workers.context import current

            ctx = current()
            days = args.days if args.days is not None else ctx.settings.dd_retention_days
            if days <= 0:
                sys.exit("give --days (or set DD_RETENTION_DAYS): 0 keeps everything")
            count = retention.run(ctx, datetime.now(UTC), days)
            print(f"archived {count} orders finished more than {days} days ago to {retention.archive_dir(ctx)}")
        case "audit":
            from workers import audit
            from workers.context import current

            client = current().store.client
            audit.seal(client)
            verdict = audit.verify(client)
            state = "intact" if verdict.ok else "BROKEN"
            print(f"audit log: {verdict.entries} entries, {verdict.pending} pending, {state}")
            for problem in verdict.problems:
                print(f"  {problem}")
            return 0 if verdict.ok else 1
        case "reports":
            from workers.context import current
            from workers.reports import rebuild

            print(f"recounted {rebuild(current().store)} orders")
        case "statements":
            return import_statement(args)
    return 0


def create_account(args: argparse.Namespace) -> int:
    import getpass

    from workers.context import current
    from workers.users import UserError, create_user

    password = getpass.getpass("password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    try:
        user = create_user(current().store, username=args.username, centre=args.centre, name=args.name,
                           password=password, replace=args.replace)  # fmt: skip
    except UserError as error:
        sys.exit(str(error))
    print(f"user {user.username} can sign in to the console of centre {user.centre}")
    return 0


def import_statement(args: argparse.Namespace) -> int:
    from contracts.statements import COLUMNS, StatementError
    from workers.context import current
    from workers.statements import import_statement as run

    columns = dict(item.split("=", 1) for item in args.column)
    if unknown := set(columns) - set(COLUMNS):
        sys.exit(f"--column names one of {', '.join(COLUMNS)}, not {', '.join(sorted(unknown))}")
    if (args.period_start is None) != (args.period_end is None):
        sys.exit("give both --from and --to, or neither")
    period = (args.period_start, args.period_end) if args.period_start else None
    try:
        statement = run(
            current().store,
            centre=args.centre,
            courier=args.courier,
            content=args.file.read_bytes(),
            filename=args.file.name,
            now=datetime.now(UTC),
            period=period,
            columns=columns,  # type: ignore[arg-type]
        )
    except (OSError, StatementError) as error:
        sys.exit(f"{args.file}: {error}")
    s = statement.summary
    print(f"statement {statement.id}: {s.lines} lines, {s.matched} matched")
    print(f"COD  statement {s.statement_cod:,} / ours {s.our_cod:,} / difference {s.cod_difference:,}")
    print(f"fees statement {s.statement_fee:,} / ours {s.our_fee:,} / difference {s.fee_difference:,}")
    for mismatch in statement.mismatches:
        where = f"row {mismatch.row}" if mismatch.row else "missing"
        amounts = f" statement {mismatch.statement} ours {mismatch.ours}" if mismatch.statement is not None else ""
        print(f"  {mismatch.problem:<17} {where:<9} {mismatch.tracking_code or ''}{amounts} {mismatch.note}".rstrip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
