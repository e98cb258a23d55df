"""Fixtures for the accounts store: a fast argon2 profile, a settable clock, a secret box.

PostgreSQL tests take `pg_schema` (tests/conftest.py): the server's URL and a schema of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import argon2
import pytest

from engine.accounts.passwords import Passwords
from engine.accounts.secrets import SecretBox


class ManualClock:
    """A clock the test moves by hand (unix ms)."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


@pytest.fixture
def make_passwords() -> Iterator[Callable[..., Passwords]]:
    """Real argon2id with small parameters, so the suite spends seconds, not minutes, hashing."""
    made: list[Passwords] = []

    def make(memory_kib: int = 8192) -> Passwords:
        made.append(
            Passwords(argon2.PasswordHasher(time_cost=1, memory_cost=memory_kib, parallelism=1))
        )
        return made[-1]

    yield make
    for p in made:
        p.close()


@pytest.fixture
def passwords(make_passwords) -> Passwords:
    return make_passwords()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def box() -> SecretBox:
    return SecretBox(SecretBox.generate_key())
