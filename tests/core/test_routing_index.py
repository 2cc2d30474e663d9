"""Each domain router declines, in one step, a request none of its paths can match
(`DomainRouter`): the routing answers exactly as the full walk of the route table would."""

import uuid

from fastapi.routing import APIRoute, iter_route_contexts
from starlette.routing import Match

from app.api import API_ROUTERS
from app.core.routing import DomainRouter, ProblemRoute, _literal_heads


def _concrete(path_format: str) -> str:
    """The template with each parameter filled with an id (as no concrete path is spelled)."""
    parts = path_format.split("{")
    return parts[0] + "".join(str(uuid.uuid4()) + part.split("}", 1)[1] for part in parts[1:])


def _scope(app: object, method: str, path: str) -> dict[str, object]:
    return {"type": "http", "method": method, "path": path, "root_path": "", "app": app}


def _selected(app, method: str, path: str):
    """The route FastAPI's application router selects for the request (its first full match
    among the top-level routes), or None."""
    scope = _scope(app, method, path)
    for route in app.router.routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            while hasattr(route, "_match"):  # an included router: the route it selects
                route = route._match(scope)[2]
            return route
    return None


def test_a_path_holding_no_head_is_no_match_and_the_others_are_matched_in_full():
    router = DomainRouter()

    @router.get("/clients/{client_id}/agenda")
    async def agenda(client_id: uuid.UUID) -> None: ...

    @router.get("/me/agenda")
    async def mine() -> None: ...

    assert router.literal_heads() == ("/clients/", "/me/agenda")
    assert isinstance(router.routes[0], ProblemRoute)

    @router.get("/clients")
    async def clients() -> None: ...

    # A route added later counts; "/clients/" holds "/clients", which alone is enough.
    assert router.literal_heads() == ("/clients", "/me/agenda")
    assert router.matches(_scope(None, "GET", "/v1/goals"))[0] is Match.NONE


def test_heads_keep_only_the_shortest_of_those_holding_one_another():
    assert _literal_heads(["/a/{x}", "/a/{x}/b", "/ab", "/c"]) == ("/c", "/a/", "/ab")
    # A route starting with a parameter matches any path: its head "/" is in every path.
    assert _literal_heads(["/{x}", "/a"]) == ("/",)


def test_every_operation_of_the_api_is_selected_for_its_own_path(app):
    operations = 0
    for context in iter_route_contexts(app.routes):
        original = context.original_route
        if not isinstance(original, APIRoute):
            continue
        path = _concrete(context.path_format)
        for method in context.methods:
            assert _selected(app, method, path) is original, (method, context.path_format)
            operations += 1
    assert operations > 100


def test_every_api_router_declines_in_one_step(app):
    assert all(isinstance(router, DomainRouter) for router in API_ROUTERS)


async def test_unknown_paths_and_methods_still_answer_404_and_405(client):
    missing = await client.get("/v1/no-such-resource")
    assert missing.status_code == 404
    wrong_method = await client.put("/v1/completions/batch")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["allow"] == "POST"
