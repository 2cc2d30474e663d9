"""The committed contract is exactly what the app generates."""

import json
from pathlib import Path

from app.cli import openapi_document, render_openapi

COMMITTED = Path(__file__).resolve().parents[2] / "openapi" / "openapi.json"


def test_committed_openapi_matches_the_app():
    assert COMMITTED.read_text(encoding="utf-8") == render_openapi(), (
        "openapi/openapi.json is stale: run `homework-api openapi` and commit it"
    )


def _is_oauth_error(response):
    schema = response["content"].get("application/json", {}).get("schema", {})
    return schema.get("$ref") == "#/components/schemas/OAuthError"


def test_every_operation_has_id_summary_tag_and_problem_errors():
    spec = openapi_document()
    seen_ids = set()
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            where = f"{method.upper()} {path}"
            assert operation.get("operationId"), where
            assert operation["operationId"] not in seen_ids, where
            seen_ids.add(operation["operationId"])
            assert operation.get("summary"), where
            assert len(operation.get("tags", [])) == 1, where
            for status, response in operation["responses"].items():
                if int(status) < 400:
                    continue
                media_types = list(response["content"])
                if _is_oauth_error(response):
                    # RFC 6749 fixes the token endpoint's error body (and its media type).
                    assert path.startswith("/v1/auth/"), where
                    assert media_types == ["application/json"], (where, status)
                else:
                    assert media_types == ["application/problem+json"], (where, status)


def test_openapi_is_stable_across_generations():
    assert json.loads(render_openapi()) == json.loads(render_openapi())
