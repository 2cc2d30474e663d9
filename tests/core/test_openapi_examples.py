"""The main operations show a request and a response example in the contract (and so in
/docs and /redoc), and every example is a valid body of its model: a consumer can paste it."""

import json
from pathlib import Path

import pytest

from app.agenda.schemas import Agenda
from app.assignments.schemas import AssignmentCreate, AssignmentRead
from app.auth.schemas import TokenResponse
from app.completions.schemas import BatchCompletionCreate, CompletionCreate, CompletionRead

CONTRACT = json.loads((Path(__file__).resolve().parents[2] / "openapi/openapi.json").read_text())
MODELS = [
    AssignmentCreate,
    AssignmentRead,
    CompletionCreate,
    BatchCompletionCreate,
    CompletionRead,
    Agenda,
    TokenResponse,
]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_example_is_a_valid_body_of_its_model(model):
    examples = model.model_json_schema()["examples"]
    assert examples
    for example in examples:
        model.model_validate(example)


def _schema_name(ref_holder: dict) -> str:
    return ref_holder["$ref"].rsplit("/", 1)[-1]


@pytest.mark.parametrize(
    "operation_id",
    ["createAssignment", "createCompletion", "getMyAgenda", "createToken"],
)
def test_the_main_operations_show_examples(operation_id):
    operation = next(
        op
        for path in CONTRACT["paths"].values()
        for op in path.values()
        if op.get("operationId") == operation_id
    )
    schemas = CONTRACT["components"]["schemas"]
    body = operation.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        assert schemas[_schema_name(body["schema"])].get("examples"), operation_id
    answer = next(r for status, r in operation["responses"].items() if status in ("200", "201"))[
        "content"
    ]["application/json"]["schema"]
    assert schemas[_schema_name(answer)].get("examples"), operation_id
