"""Constrained types shared by request schemas: bounded strings, IANA time zones."""

import zoneinfo
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints


def _check_zone(name: str) -> str:
    if not name or name.startswith(("/", ".")) or ".." in name:
        raise ValueError("not an IANA time zone name")
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        ) from None
    return name


TimeZoneName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(_check_zone),
    Field(examples=["Europe/Berlin"]),
]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=2000)]
