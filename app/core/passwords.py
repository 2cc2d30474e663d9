"""Password hashing with argon2id, and hashes of high-entropy secrets (tokens, codes).

argon2 takes tens of milliseconds of CPU per hash by design. It runs in a small thread pool of
its own (the C code releases the GIL), never on the event loop, so other requests keep flowing
during a login, and never in the default pool, so a flood of logins cannot take every thread
that file and DNS work need; its size (`password_hash_threads`) also leaves cores to the event
loop and the database. Callers await `hash_password` and `verify_password`.
"""

import asyncio
import hashlib
import hmac
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id: m=19 MiB, t=2, p=1.
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the account does not exist, so both answers take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

_pool: ThreadPoolExecutor | None = None
_pool_size = 1  # the app sets it from its settings; scripts hash one password at a time
_pool_lock = threading.Lock()


def size_hashing_pool(threads: int) -> None:
    """Set how many threads hash passwords (the app does, from `password_hash_threads`). The
    pool is the process's, as the CPU it guards is; a pool of another size is replaced."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is not None and threads != _pool_size:
            _pool.shutdown(wait=False)  # its running hashes finish; new ones go to the new pool
            _pool = None
        _pool_size = threads


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=_pool_size, thread_name_prefix="argon2")
        return _pool


async def _off_loop(work: Any, *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_executor(), work, *args)


def _hash(password: str) -> str:
    return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def hash_password(password: str) -> str:
    return await _off_loop(_hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; verifies a dummy hash when there is none, so an unknown
    account costs the same time as a wrong password."""
    return await _off_loop(_verify, password_hash, password)


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """SHA-256 is enough for random secrets of 256 bits; it keeps token checks cheap."""
    return hashlib.sha256(secret.encode()).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
