"""Password hashing with argon2id (memory-hard), off the event loop and bounded in memory.

Each hash with the default parameters (RFC 9106 low-memory profile: 64 MiB, t=3, p=4) holds
64 MiB for about a tenth of a second, so hashing runs in a small dedicated thread pool: a burst
of logins queues instead of allocating 64 MiB per request. argon2-cffi releases the GIL.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar, final

import argon2
from argon2.exceptions import InvalidHashError, VerificationError

from engine.accounts import WeakPassword

__all__ = ["MAX_PASSWORD_LENGTH", "MIN_PASSWORD_LENGTH", "Passwords", "check_password"]

MIN_PASSWORD_LENGTH = 8
"""Fewest characters a password may have."""
MAX_PASSWORD_LENGTH = 1024
"""Most characters a password may have (a bound on the work one request can cause)."""

_T = TypeVar("_T")

# Hashed once per Passwords object so that an unknown e-mail costs what a known one does.
_DUMMY_PASSWORD = "ragstack-dummy-password-for-unknown-users"


def check_password(password: str) -> None:
    """Raise WeakPassword unless `password` is a string of acceptable length."""
    if not isinstance(password, str):
        raise WeakPassword("the password must be a string")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise WeakPassword(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


@final
class Passwords:
    """argon2id hashing and verification, run in worker threads."""

    def __init__(self, hasher: argon2.PasswordHasher | None = None, *, workers: int = 0) -> None:
        """`hasher` sets the parameters (argon2-cffi's defaults otherwise); `workers` bounds
        how many hashes run at once (default: the number of CPUs, at most 4)."""
        self._hasher = hasher or argon2.PasswordHasher()
        if self._hasher.type is not argon2.Type.ID:
            raise ValueError("password hashes must use argon2id")
        count = workers or min(4, os.cpu_count() or 1)
        self._pool = ThreadPoolExecutor(max_workers=count, thread_name_prefix="argon2")
        self._dummy_hash: str | None = None

    def __repr__(self) -> str:
        h = self._hasher
        return f"Passwords(argon2id, m={h.memory_cost} KiB, t={h.time_cost}, p={h.parallelism})"

    async def _run(self, fn: Callable[..., _T], *args: str) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def hash(self, password: str) -> str:
        """The encoded argon2id hash of `password` (salted; parameters inside)."""
        return await self._run(self._hasher.hash, password)

    async def verify(self, encoded: str, password: str) -> bool:
        """Whether `password` matches `encoded`; a malformed hash simply does not match."""
        return await self._run(self._verify_sync, encoded, password)

    def _verify_sync(self, encoded: str, password: str) -> bool:
        try:
            return self._hasher.verify(encoded, password)
        except (VerificationError, InvalidHashError):
            return False

    async def burn(self, password: str) -> None:
        """Spend the time a verification would, for a user who does not exist."""
        if self._dummy_hash is None:
            self._dummy_hash = await self.hash(_DUMMY_PASSWORD)
        await self.verify(self._dummy_hash, password)

    def needs_rehash(self, encoded: str) -> bool:
        """Whether `encoded` was made with other parameters than this object's."""
        try:
            return self._hasher.check_needs_rehash(encoded)
        except InvalidHashError:
            return True

    def close(self) -> None:
        """Let the worker threads end (pending hashes finish first)."""
        self._pool.shutdown(wait=False)
