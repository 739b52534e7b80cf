"""The import rules of DESIGN.md: contracts is pure, and imports flow contracts <- workers <- service."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_contracts_imports_no_io_library() -> None:
    # The legacy-address library, loaded on first use, brings requests and geopy with it (it can geocode
    # over the network); tests/test_legacy_addresses.py runs every conversion with sockets refused.
    probe = (
        "import sys, pkgutil, importlib, contracts\n"
        "for m in pkgutil.walk_packages(contracts.__path__, 'contracts.'): importlib.import_module(m.name)\n"
        "bad = sorted({'redis', 'rq', 'httpx', 'litestar', 'uvicorn', 'anyio'} & set(sys.modules))\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True)
    assert result.stdout.strip() == ""


def _imported_roots(package: str) -> set[str]:
    roots: set[str] = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                roots.add(node.module.split(".")[0])
    return roots


def test_imports_flow_one_way() -> None:
    assert not _imported_roots("contracts") & {"workers", "service"}
    assert not _imported_roots("workers") & {"service", "litestar"}
