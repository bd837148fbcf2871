"""Password hashing with argon2id, off the event loop (a hash takes tens of milliseconds by design).

Parameters are OWASP's (19 MiB, 2 passes, 1 lane) rather than the library's 64 MiB default, and
at most ``CONCURRENT_HASHES`` run at once: a burst of logins must not take the hub's memory and
both its cores. Each hash records its parameters, so changing them later keeps old hashes valid.
"""

from __future__ import annotations

import threading
from functools import cache

import anyio
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

CONCURRENT_HASHES = 2
_hasher = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# A thread-level gate rather than an anyio limiter: it holds across event loops (tests, `corral mcp`).
_hashing = threading.BoundedSemaphore(CONCURRENT_HASHES)


async def hash_password(password: str) -> str:
    return await anyio.to_thread.run_sync(_hash, password)


async def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; with no hash (an unknown user) it spends the same time and says no."""
    return await anyio.to_thread.run_sync(_verify, password_hash, password)


def _hash(password: str) -> str:
    with _hashing:
        return _hasher.hash(password)


def _verify(password_hash: str | None, password: str) -> bool:
    stand_in = _stand_in_hash()
    with _hashing:
        try:
            _hasher.verify(password_hash or stand_in, password)
        except (VerificationError, InvalidHashError):
            return False
    return password_hash is not None


@cache
def _stand_in_hash() -> str:
    return _hasher.hash("an unknown user gets no hint from the time a refusal takes")
