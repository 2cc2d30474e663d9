"""Every route of the app x every kind of principal answers the status the matrix says.

Who may call an operation is its access policy (app/auth/policy.py), declared once where the
route is declared. Role, principal kind and scope come from the policy; what the matrix adds is
visibility (clinic, care team, the client's own records), which the services answer with 404.
"""

from pathlib import Path

import pytest
from fastapi.routing import APIRoute

from app.auth.policy import Policy
from app.auth.principal import Principal
from app.cli import render_access_table
from app.core.access import AccessRule, access_rules_of
from app.main import create_app
from tests.conftest import make_settings
from tests.factories import World
from tests.matrix import CASES, PRINCIPALS, Case

_APP = create_app(make_settings("sqlite+aiosqlite:///:memory:"))


def _operations() -> dict[tuple[str, str], APIRoute]:
    """Every operation of the app, by method and full path (routers stay nested)."""
    try:
        from fastapi.routing import iter_route_contexts

        contexts = list(iter_route_contexts(_APP.routes))
    except ImportError:  # older FastAPI: included routes are flat
        contexts = list(_APP.routes)
    operations = {}
    for ctx in contexts:
        route = getattr(ctx, "original_route", ctx)
        if isinstance(route, APIRoute):
            for method in route.methods:
                operations[(method, ctx.path_format)] = route
    return operations


OPERATIONS = _operations()


def _rule(case: Case) -> AccessRule:
    rule = OPERATIONS[(case.method, case.path)].access
    assert rule is not None
    return rule


def _as_principal(world: World, name: str) -> Principal:
    if name in world.api_clients:
        api_client = world.api_clients[name]
        return Principal(api_client.id, api_client.clinic_id, None, world.scopes_of(name))
    user = world.users[name]
    return Principal(user.id, user.clinic_id, user.role, world.scopes_of(name))


def expected_status(case: Case, world: World, name: str) -> int:
    """What the policy decides (401 without a valid token, 403 for a role, kind or scope it
    does not allow), and otherwise what the matrix says about visibility."""
    rule = _rule(case)
    if isinstance(rule, Policy):
        if name in ("anon", "expired"):
            return 401
        if not rule.allows(_as_principal(world, name)):
            return 403
    return case.expect[name]


def test_every_route_of_the_app_is_in_the_matrix():
    in_schema = {k for k, r in OPERATIONS.items() if r.include_in_schema}
    in_matrix = {(case.method, case.path) for case in CASES}
    assert in_schema - in_matrix == set(), "add these routes to tests/matrix.py"
    assert in_matrix - in_schema == set(), "the matrix names routes the app does not have"


def test_every_operation_declares_exactly_one_access_rule():
    missing = [
        f"{method} {path}: {len(set(access_rules_of(route.dependant)))} rules"
        for (method, path), route in OPERATIONS.items()
        if len(set(access_rules_of(route.dependant))) != 1
    ]
    assert not missing, "declare one Policy (or Public) per operation:\n" + "\n".join(missing)


def test_every_signed_in_operation_names_a_scope_in_the_contract():
    spec = _APP.openapi()
    for case in CASES:
        operation = spec["paths"][case.path][case.method.lower()]
        rule = _rule(case)
        assert operation["x-access"] == rule.describe()
        if rule.public:
            assert operation["security"] == []
        else:
            assert operation["security"] == [{"OAuth2": [rule.scope.value]}]  # type: ignore[attr-defined]


def test_every_case_names_every_principal():
    for case in CASES:
        assert set(case.expect) == set(PRINCIPALS), (case.method, case.path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_the_matrix_agrees_with_the_policies(case: Case, world):
    """The written matrix says 403 exactly where the policy refuses the caller."""
    rule = _rule(case)
    if not isinstance(rule, Policy):
        return
    for name in PRINCIPALS:
        if name in ("anon", "expired"):
            assert case.expect[name] == 401, name
            continue
        refused = not rule.allows(_as_principal(world, name))
        assert (case.expect[name] == 403) == refused, (name, case.expect[name], rule)


async def _call(client, db, world, case: Case, headers: dict[str, str], principal: str):
    params = await case.params(world, db) if case.params else {}
    kwargs = {}
    if case.json:
        kwargs["json"] = case.json(world, principal)
    if case.form:
        kwargs["data"] = case.form(world, principal)
    if case.query:
        kwargs["params"] = await case.query(world, db)
    return await client.request(case.method, case.path.format(**params), headers=headers, **kwargs)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_route_answers_each_principal_as_the_matrix_says(case: Case, client, db, world):
    mismatches = []
    for principal in PRINCIPALS:
        headers = {} if principal == "anon" else world.auth(principal)
        response = await _call(client, db, world, case, headers, principal)
        expected = expected_status(case, world, principal)
        if response.status_code != expected:
            mismatches.append(
                f"{principal}: expected {expected}, got {response.status_code} "
                f"{response.text[:200]}"
            )
    assert not mismatches, "\n".join(mismatches)


SCOPED = [case for case in CASES if isinstance(_rule(case), Policy)]


@pytest.mark.parametrize("case", SCOPED, ids=lambda c: f"{c.method} {c.path}")
async def test_a_token_without_the_needed_scope_is_refused(case: Case, client, db, world):
    """Every principal the policy lets in, with a token holding every other scope it has but
    the one the operation needs, is 403: a token never does more than its scopes allow."""
    rule = _rule(case)
    assert isinstance(rule, Policy)
    callers = [
        name
        for name in PRINCIPALS
        if name not in ("anon", "expired") and rule.allows(_as_principal(world, name))
    ]
    assert callers, "an operation nobody may call"
    answers = {}
    for name in callers:
        narrowed = world.scopes_of(name) - {rule.scope.value}
        response = await _call(client, db, world, case, world.auth_with(name, narrowed), name)
        answers[name] = (response.status_code, response.json().get("detail"))
    refused = {name: a for name, a in answers.items() if a[0] != 403}
    assert not refused, refused
    assert all(rule.scope.value in detail for _, detail in answers.values())


def test_the_committed_access_table_is_generated_from_the_policies():
    committed = Path(__file__).resolve().parents[1] / "docs" / "access.md"
    assert committed.read_text(encoding="utf-8") == render_access_table(), (
        "docs/access.md is stale: run `homework-api openapi` and commit it"
    )
