"""The shape of a built-in template: a stable slug, its tags, its definition and a plausible
filled-in example."""

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.templates.definitions import TemplateDefinition
from app.templates.search import TEMPLATE_TAGS


class BuiltinTemplate(BaseModel):
    model_config = ConfigDict(frozen=True)

    slug: str
    # Catalogue labels for pickers and `GET /v1/templates?tag=`: not part of a version, so a
    # change here retags the stored template without publishing a new version.
    tags: tuple[str, ...]
    definition: TemplateDefinition
    # What a client might really send: used by tests, docs and the demo seed.
    realistic_example: dict[str, Any]


def builtin(
    slug: str, tags: tuple[str, ...], definition: dict[str, Any], example: dict[str, Any]
) -> BuiltinTemplate:
    # Built from plain JSON-shaped dicts so that the library goes through exactly the checks a
    # therapist's own template does (the tags too: TemplateTags).
    return BuiltinTemplate(
        slug=slug,
        tags=tuple(TEMPLATE_TAGS.validate_python(list(tags))),
        definition=TemplateDefinition.model_validate(definition),
        realistic_example=example,
    )


def scale_0_10(key: str, label: str, low: str, high: str, *, required: bool = False) -> dict:
    return {
        "type": "scale",
        "key": key,
        "label": label,
        "min": 0,
        "max": 10,
        "min_label": low,
        "max_label": high,
        "required": required,
    }


def options(*pairs: tuple[int | str, str]) -> list[dict[str, Any]]:
    return [{"value": value, "label": label} for value, label in pairs]
