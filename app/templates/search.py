"""Finding templates: their tags, and the normalized text that `?q=` searches.

`q` matches a template's slug, title, description, kind and tags, ignoring case and accents,
the same on SQLite and PostgreSQL: the service stores `Template.search_text`, this module's
`normalized` form of those fields, on every write, and a query is normalized the same way
before a plain substring match. (Database collations and `unaccent` differ between the
engines; a column computed here does not.)
"""

import re
import unicodedata
from collections.abc import Iterable
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, TypeAdapter

MAX_TAGS = 10
MAX_TAG_LENGTH = 32
TAG_PATTERN = rf"^[a-z0-9][a-z0-9-]{{0,{MAX_TAG_LENGTH - 1}}}$"

Tag = Annotated[
    str,
    StringConstraints(pattern=TAG_PATTERN),
    Field(
        description=f"Lowercase letters, digits and hyphens, starting with a letter or digit; at "
        f"most {MAX_TAG_LENGTH} characters.",
        examples=["cbt"],
    ),
]


def _distinct(tags: list[str]) -> list[str]:
    if len(set(tags)) != len(tags):
        raise ValueError("Each tag may appear only once")
    return tags


TemplateTags = Annotated[
    list[Tag],
    Field(max_length=MAX_TAGS, examples=[["cbt", "sleep"]]),
    AfterValidator(_distinct),
]
TEMPLATE_TAGS: TypeAdapter[list[str]] = TypeAdapter(TemplateTags)

# Hyphens and underscores separate words in slugs and kinds ("thought-record", "cbt_worksheet"):
# they count as spaces, so that "thought record" finds the slug and "cbt worksheet" the kind.
_SEPARATORS = re.compile(r"[\s_-]+")
# Fields are joined by a line break, which a normalized query never contains (whitespace
# collapses to one space), so a match never spans two fields.
FIELD_SEPARATOR = "\n"


def normalized(text: str) -> str:
    """Case- and accent-free: case-folded, NFKD, combining marks dropped, separators as one
    space. "Ängste & Sorgen" and "angste  &  SORGEN" both give "angste & sorgen"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    bare = "".join(char for char in decomposed if not unicodedata.combining(char))
    return _SEPARATORS.sub(" ", bare).strip()


def search_text(slug: str, title: str, description: str, kind: str, tags: Iterable[str]) -> str:
    """What `?q=` searches for one template."""
    return FIELD_SEPARATOR.join(
        normalized(part) for part in (slug, title, description, kind, *tags)
    )
