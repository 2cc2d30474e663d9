"""Routers are HTTP only: they parse, call one service function and shape the answer. The
statements, the events (outbox), the throttles and the session's work live in the services."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
ROUTERS = sorted(p for p in APP.glob("*/*.py") if p.stem == "router" or p.stem.endswith("_router"))
# What only a service (or repository) may reach for. A router may name the session's type.
SERVICE_ONLY = ("sqlalchemy", "app.core.outbox", "app.core.ratelimit")
SESSION_TYPE = "sqlalchemy.ext.asyncio"
SESSION_WORK = {"execute", "scalar", "scalars", "get", "add", "flush", "delete", "begin_nested"}


def _imports(tree: ast.Module) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _session_calls(tree: ast.Module) -> list[str]:
    return [
        f"line {node.lineno}: session.{node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "session"
        and node.func.attr in SESSION_WORK
    ]


def test_every_domain_router_is_checked():
    assert len(ROUTERS) >= 15, ROUTERS


@pytest.mark.parametrize("path", ROUTERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_router_builds_no_statement_writes_no_event_and_throttles_nothing(path):
    tree = ast.parse(path.read_text())
    reached = sorted(
        name
        for name in _imports(tree) - {SESSION_TYPE}
        for banned in SERVICE_ONLY
        if name.startswith(banned)
    )
    assert reached == [], f"{path.name} imports {reached}: move that into the service"


@pytest.mark.parametrize("path", ROUTERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_router_hands_the_session_on_untouched(path):
    assert _session_calls(ast.parse(path.read_text())) == []
