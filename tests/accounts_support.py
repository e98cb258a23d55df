"""What tests of the accounts store and of the services over it share: a clock moved by hand (so
tokens expire without sleeping) and real argon2id with small parameters (so the suites spend
seconds, not minutes, hashing)."""

from __future__ import annotations

import argon2

from engine.accounts.passwords import Passwords


class ManualClock:
    """A clock the test moves by hand (unix ms)."""

    def __init__(self, now: int = 1_700_000_000_000) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1000)


def fast_passwords(memory_kib: int = 8192) -> Passwords:
    """Real argon2id, one pass over `memory_kib` of memory; close it after use."""
    return Passwords(argon2.PasswordHasher(time_cost=1, memory_cost=memory_kib, parallelism=1))
