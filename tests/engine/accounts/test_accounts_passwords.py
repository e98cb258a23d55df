"""Passwords: argon2id with memory-hard defaults, and the length rules."""

from __future__ import annotations

import argon2
import pytest

from engine.accounts import WeakPassword
from engine.accounts.passwords import MAX_PASSWORD_LENGTH, Passwords, check_password
from tests.accounts_support import fast_passwords


async def test_default_parameters_are_memory_hard_argon2id():
    passwords = Passwords()
    try:
        encoded = await passwords.hash("correct horse battery")
        params = argon2.extract_parameters(encoded)
        assert params.type is argon2.Type.ID
        assert params.memory_cost >= 64 * 1024  # KiB: at least 64 MiB per guess
        assert await passwords.verify(encoded, "correct horse battery")
        assert not await passwords.verify(encoded, "correct horse batterY")
        assert not passwords.needs_rehash(encoded)
    finally:
        passwords.close()


async def test_a_malformed_stored_hash_does_not_match_and_needs_rehash():
    passwords = fast_passwords()
    try:
        assert not await passwords.verify("not a hash", "whatever1")
        assert passwords.needs_rehash("not a hash")
    finally:
        passwords.close()


def test_other_argon2_variants_are_refused():
    with pytest.raises(ValueError, match="argon2id"):
        Passwords(argon2.PasswordHasher(type=argon2.Type.I))


@pytest.mark.parametrize("password", ["", "1234567", "x" * (MAX_PASSWORD_LENGTH + 1), None])
def test_password_length_rules(password):
    with pytest.raises(WeakPassword):
        check_password(password)


def test_acceptable_passwords_pass():
    check_password("12345678")
    check_password("é" * MAX_PASSWORD_LENGTH)
