"""Clock helpers: every instant the service makes is timezone-aware UTC."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def local_day(instant: datetime, timezone: str) -> date:
    """The calendar day it is at `instant` in the IANA zone `timezone`."""
    return instant.astimezone(ZoneInfo(timezone)).date()
