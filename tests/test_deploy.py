"""compose.yaml runs what DESIGN.md asks: durable Valkey on a volume, the api, a worker per queue, a scheduler."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from workers.queues import QUEUES

ROOT = Path(__file__).parent.parent


def test_compose_has_durable_valkey_and_one_worker_per_queue() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    valkey = " ".join(services["valkey"]["command"])
    assert "--appendonly yes" in valkey and "--maxmemory-policy noeviction" in valkey
    # every write fsynced before the store answers, as the api and workers then check (README, Durability)
    assert "--appendfsync always" in valkey and services["api"]["environment"]["DD_DURABILITY"] == "always"
    assert "--no-appendfsync-on-rewrite no" in valkey
    assert services["valkey"]["volumes"] == ["valkey-data:/data"]
    workers = {name: s["command"] for name, s in services.items() if name.startswith("worker-")}
    assert workers == {f"worker-{q}": ["worker", q] for q in QUEUES}
    assert services["api"]["command"] == ["api"] and services["scheduler"]["command"] == ["scheduler"]
    assert services["api"]["environment"]["REDIS_URL"].startswith("redis://valkey:")


def test_compose_passes_every_secret_the_mounted_config_reads() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    mounted = [v.split(":")[0] for v in compose["services"]["api"]["volumes"] if v.endswith("config.toml:ro")]
    config = (ROOT / mounted[0]).read_text()
    # Only the lines in force: a commented-out option needs no variable.
    needed = {m for line in config.splitlines() if not line.lstrip().startswith("#")
              for m in re.findall(r'"env:([A-Z0-9_]+)"', line.split("#")[0])}  # fmt: skip
    assert needed and needed <= set(compose["services"]["api"]["environment"]), needed


def test_ci_runs_the_readme_test_command() -> None:
    assert "./scripts/test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "./scripts/dev" in readme and "./scripts/test" in readme
