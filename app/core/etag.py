"""Optimistic concurrency: ETags from a resource's version, `If-Match` checked before a change."""

from typing import Annotated

from fastapi import Header, Response

from app.core.errors import PreconditionFailed


def etag_of(version: int) -> str:
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_of(version)


def check_if_match(if_match: str | None, version: int) -> None:
    """No header: the change goes ahead. A header that names another version: 412."""
    if if_match is None:
        return
    candidates = {tag.strip() for tag in if_match.split(",")}
    if "*" in candidates or etag_of(version) in candidates:
        return
    raise PreconditionFailed(
        f"The resource changed; its current ETag is {etag_of(version)}. Fetch it and retry.",
        current_etag=etag_of(version),
    )


IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        max_length=200,
        description="The ETag you last saw; a stale one answers 412 instead of overwriting.",
    ),
]
