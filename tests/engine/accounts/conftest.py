"""Fixtures for the accounts store: a fast argon2 profile, a settable clock, a secret box.

PostgreSQL tests take `pg_schema` (tests/conftest.py): the server's URL and a schema of their own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from engine.accounts.passwords import Passwords
from engine.accounts.secrets import SecretBox
from tests.accounts_support import ManualClock, fast_passwords


@pytest.fixture
def make_passwords() -> Iterator[Callable[..., Passwords]]:
    """Real argon2id with small parameters, so the suite spends seconds, not minutes, hashing."""
    made: list[Passwords] = []

    def make(memory_kib: int = 8192) -> Passwords:
        made.append(fast_passwords(memory_kib))
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
