"""Every route of the app x every kind of principal answers the status the matrix says."""

import pytest

from app.main import create_app
from tests.conftest import make_settings
from tests.matrix import CASES, PRINCIPALS, Case


def _app_routes() -> set[tuple[str, str]]:
    """Every operation of the app's contract (the OpenAPI document lists every public route)."""
    spec = create_app(make_settings("sqlite+aiosqlite:///:memory:")).openapi()
    return {(method.upper(), path) for path, item in spec["paths"].items() for method in item}


def test_every_route_of_the_app_is_in_the_matrix():
    in_matrix = {(case.method, case.path) for case in CASES}
    assert _app_routes() - in_matrix == set(), "add these routes to tests/matrix.py"
    assert in_matrix - _app_routes() == set(), "the matrix names routes the app does not have"


def test_every_case_names_every_principal():
    for case in CASES:
        assert set(case.expect) == set(PRINCIPALS), (case.method, case.path)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method} {c.path}")
async def test_route_answers_each_principal_as_the_matrix_says(case: Case, client, db, world):
    mismatches = []
    for principal in PRINCIPALS:
        params = await case.params(world, db) if case.params else {}
        url = case.path.format(**params)
        headers = {} if principal == "anon" else world.auth(principal)
        kwargs = {}
        if case.json:
            kwargs["json"] = case.json(world, principal)
        if case.form:
            kwargs["data"] = case.form(world, principal)
        response = await client.request(case.method, url, headers=headers, **kwargs)
        if response.status_code != case.expect[principal]:
            mismatches.append(
                f"{principal}: expected {case.expect[principal]}, got {response.status_code} "
                f"{response.text[:200]}"
            )
    assert not mismatches, "\n".join(mismatches)
