"""Server-made identifiers: UUIDv7, so that ids sort by creation time."""

import uuid

import uuid6


def new_id() -> uuid.UUID:
    # uuid6 returns its own subclass; hand out plain UUIDs so equality and hashing never surprise.
    return uuid.UUID(int=uuid6.uuid7().int)
