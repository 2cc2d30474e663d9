"""The principal check's answers, remembered for a few seconds in each process.

Every request checks that its token's account is active (or its API client not revoked) and in
the token's clinic. That check is a database round trip; this cache answers it from memory for
`PRINCIPAL_CACHE_SECONDS` (at most 5). A change to an account or an API client reaches:

- the process that made it at once: the change's session records the key at flush and forgets
  it in every cache of the process after its commit (`install_principal_cache_hooks`), and an
  answer read while such a commit landed is not remembered (`Lookup`);
- every other process within `PRINCIPAL_CACHE_SECONDS`, when its entry expires.

Only what the access decision needs is kept (status, clinic, role; revocation, clinic,
scopes), and a user's time zone as a hint: a read that answers with it checks it in its own
statement (the agenda's), every other read looks the zone up.
"""

import time
import uuid
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

Key = tuple[str, uuid.UUID]  # ("user" | "api_client", id)
_CHANGED = "homework.principals_changed"
_caches: "weakref.WeakSet[PrincipalCache]" = weakref.WeakSet()


class PrincipalCache:
    """A bounded map key -> access facts, each good for `seconds` from its read."""

    def __init__(
        self, seconds: float, size: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.size = size
        self.clock = clock
        self._entries: dict[Key, tuple[float, tuple[Hashable, ...]]] = {}
        self._generation = 0  # moves on every forget
        _caches.add(self)

    def get(self, key: Key) -> tuple[Hashable, ...] | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self.clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]

    def lookup(self) -> "Lookup":
        """Start reading an answer from the database; `Lookup.keep` remembers it."""
        return Lookup(self, self._generation, self.clock())

    def forget(self, key: Key) -> None:
        self._generation += 1
        self._entries.pop(key, None)


class Lookup:
    """An answer being read: kept only when nothing was forgotten since the read began, so a
    commit that lands meanwhile is never shadowed by what was read before it."""

    def __init__(self, cache: PrincipalCache, generation: int, started: float) -> None:
        self.cache, self.generation, self.started = cache, generation, started

    def keep(self, key: Key, facts: tuple[Hashable, ...]) -> None:
        cache = self.cache
        if cache.seconds <= 0 or cache._generation != self.generation:
            return
        entries = cache._entries
        if key not in entries and len(entries) >= cache.size:
            del entries[next(iter(entries))]  # the oldest read
        entries[key] = (self.started + cache.seconds, facts)


def principal_changed(session: Session, key: Key) -> None:
    """Note that this session changes who `key` is (a status, a role, a revocation, a
    deletion): every cache of the process forgets it once the session commits."""
    session.info.setdefault(_CHANGED, set()).add(key)


def _forget_changed(session: Session) -> None:
    for key in session.info.pop(_CHANGED, ()):
        for cache in list(_caches):
            cache.forget(key)


_kinds: dict[type, str] = {}


def _note_flushed(session: Session, _context: Any, _instances: Any) -> None:
    for obj in (*session.dirty, *session.deleted):
        kind = _kinds.get(type(obj))
        if kind is not None:
            principal_changed(session, (kind, obj.id))


def install_principal_cache_hooks(kinds: dict[type, str]) -> None:
    """Watch every session's flushes for changed or deleted objects of the mapped classes in
    `kinds` (class -> key kind), and forget their keys once the session commits or rolls back
    (forgetting too much costs one lookup). Called once by the app factory; idempotent."""
    _kinds.update(kinds)
    if not event.contains(Session, "before_flush", _note_flushed):
        event.listen(Session, "before_flush", _note_flushed)
        event.listen(Session, "after_commit", _forget_changed)
        event.listen(Session, "after_rollback", _forget_changed)
