"""One word for each thing: request bodies share one base, validation entries one helper, and
each access policy one alias, so that a reader meets every idea under a single name."""

import importlib
import pkgutil
import re
import types
import typing
from collections import defaultdict
from pathlib import Path

from fastapi.params import Depends
from pydantic import BaseModel

import app
from app.auth.policy import Policy
from app.auth.principal import Principal
from app.core.errors import field_error
from app.core.schemas import Schema
from tests.test_authorization_matrix import OPERATIONS

APP = Path(app.__file__).resolve().parent


def _modules() -> list[types.ModuleType]:
    return [
        importlib.import_module(info.name)
        for info in pkgutil.walk_packages(app.__path__, prefix="app.")
    ]


def _models_in(annotation: object) -> typing.Iterator[type[BaseModel]]:
    """The Pydantic models an annotation names, through unions, lists and Annotated."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def _request_models() -> set[type[BaseModel]]:
    seen: set[type[BaseModel]] = set()
    todo = [
        model
        for route in OPERATIONS.values()
        if route.body_field is not None
        for model in _models_in(route.body_field.field_info.annotation)
    ]
    while todo:
        model = todo.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            todo.extend(_models_in(field.annotation))
    return seen


def test_every_model_of_a_request_body_is_a_schema_and_refuses_unknown_fields():
    # Not the models FastAPI makes for form parameters (the OAuth2 token endpoints).
    models = {m for m in _request_models() if m.__module__.startswith("app.")}
    assert len(models) > 20, "the walk found too few request models: check it"
    loose = sorted(m.__name__ for m in models if not issubclass(m, Schema))
    assert loose == []
    assert all(m.model_config.get("extra") == "forbid" for m in models)


def test_a_validation_entry_names_where_what_and_which_kind():
    assert field_error(("body", "items", 3), "Too long", "too_long") == {
        "loc": ["body", "items", 3],
        "msg": "Too long",
        "type": "too_long",
    }


# A dict literal with both keys: an `errors` entry written out instead of `field_error`.
_HAND_BUILT_ENTRY = re.compile(r"""["']loc["']\s*:[^{}]*?["']msg["']\s*:""")


def test_no_module_builds_a_validation_entry_by_hand():
    hand_built = []
    for path in APP.rglob("*.py"):
        if path == APP / "core" / "errors.py":
            continue  # where field_error itself builds it
        text = path.read_text(encoding="utf-8")
        for match in _HAND_BUILT_ENTRY.finditer(text):
            hand_built.append(
                f"{path.relative_to(APP)}:{text.count(chr(10), 0, match.start()) + 1}"
            )
    assert hand_built == [], "use app.core.errors.field_error"


def _policy_aliases() -> dict[str, list[tuple[str, object]]]:
    """Module-level `Annotated[Principal, Depends(Policy(...))]` aliases: name -> (module, alias)."""
    found: dict[str, list[tuple[str, object]]] = defaultdict(list)
    for module in _modules():
        for name, value in vars(module).items():
            if typing.get_origin(value) is not typing.Annotated:
                continue
            principal, *metadata = typing.get_args(value)
            policies = [
                m.dependency
                for m in metadata
                if isinstance(m, Depends) and isinstance(m.dependency, Policy)
            ]
            if principal is Principal and policies:
                found[name].append((module.__name__, value))
    return found


def test_each_access_policy_has_one_alias_wherever_it_is_used():
    by_policy: dict[Policy, set[str]] = defaultdict(set)
    for name, places in _policy_aliases().items():
        for _, alias in places:
            (policy,) = (m.dependency for m in typing.get_args(alias)[1:])
            by_policy[policy].add(name)
    assert by_policy, "the scan found no policy alias: check it"
    repeated = {repr(p): sorted(names) for p, names in by_policy.items() if len(names) > 1}
    assert repeated == {}, "declare a shared policy once, in app/auth/policy.py"


def test_an_alias_name_means_one_policy():
    meanings = {
        name: {id(alias) for _, alias in places} for name, places in _policy_aliases().items()
    }
    assert {name: len(ids) for name, ids in meanings.items() if len(ids) > 1} == {}
