"""The accounts store's contract, run against SQLite (a temp file) and the tests' PostgreSQL.

Each backend class supplies `open_backend` (its `open` with the database named, from which
`open_store` opens another store over the same database, so tests can reopen with another key or
hasher, or race two stores) and `raw` (reads tables directly, to check what is really at rest).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import psycopg
import pytest

from engine.accounts import (
    AccountError,
    AccountStoreUnavailable,
    DecryptionFailed,
    EmailTaken,
    InvalidArgument,
    InvalidCredentials,
    InvalidEmail,
    InvalidShareToken,
    InvalidToken,
    TokenExpired,
    TokenNotFound,
    User,
    UserDisabled,
    UserNotFound,
    WeakPassword,
)
from engine.accounts.postgres import PostgresAccountStore
from engine.accounts.secrets import SecretBox
from engine.accounts.sqlite import SqliteAccountStore
from engine.accounts.store import SqlAccountStore, new_share_token

PASSWORD = "correct horse battery"

OpenStore = Callable[..., Awaitable[SqlAccountStore]]
Raw = Callable[[str], Awaitable[list[Sequence[Any]]]]


class AccountStoreContract:
    """Every backend passes these; subclasses provide the `open_backend` and `raw` fixtures."""

    @pytest.fixture
    async def open_store(self, open_backend, box, passwords, clock) -> AsyncIterator[OpenStore]:
        opened: list[SqlAccountStore] = []

        async def open_store(**overrides: Any) -> SqlAccountStore:
            options = {"passwords": passwords, "clock": clock} | overrides
            chosen_box = options.pop("box", box)
            opened.append(await open_backend(chosen_box, **options))
            return opened[-1]

        yield open_store
        for s in opened:
            await s.close()

    @pytest.fixture
    async def store(self, open_store: OpenStore) -> SqlAccountStore:
        return await open_store()

    # --- sign-up and login ---

    async def test_sign_up_then_log_in_returns_the_same_user(self, store, clock):
        user = await store.create_user("alice@example.com", PASSWORD, name="Alice")
        assert user.email == "alice@example.com"
        assert user.name == "Alice"
        assert user.created_at == clock.now
        assert user.disabled is False
        assert len(user.id) == 26 and user.id == user.id.lower()
        assert await store.authenticate("alice@example.com", PASSWORD) == user
        assert await store.get_user(user.id) == user

    async def test_email_is_normalised_and_unique_whatever_its_case(self, store):
        user = await store.create_user("  Alice@Example.COM ", PASSWORD)
        assert user.email == "alice@example.com"
        with pytest.raises(EmailTaken) as taken:
            await store.create_user("ALICE@example.com", "another password")
        assert taken.value.code == "email_taken"
        # Login and lookup accept any case too.
        assert await store.authenticate("ALICE@EXAMPLE.com", PASSWORD) == user
        assert await store.find_user_by_email("alice@EXAMPLE.com") == user

    async def test_wrong_password_and_unknown_email_get_the_same_error(self, store):
        await store.create_user("alice@example.com", PASSWORD)
        with pytest.raises(InvalidCredentials) as wrong_password:
            await store.authenticate("alice@example.com", "not the password")
        with pytest.raises(InvalidCredentials) as unknown_email:
            await store.authenticate("nobody@example.com", PASSWORD)
        with pytest.raises(InvalidCredentials) as malformed_email:
            await store.authenticate("not an address", PASSWORD)
        messages = {str(e.value) for e in (wrong_password, unknown_email, malformed_email)}
        assert len(messages) == 1
        assert wrong_password.value.code == unknown_email.value.code == "invalid_credentials"

    @pytest.mark.parametrize(
        "email", ["", "alice", "@example.com", "alice@", "a b@example.com", "a@b@c", "a@-x.com"]
    )
    async def test_malformed_email_is_refused(self, store, email):
        with pytest.raises(InvalidEmail) as refused:
            await store.create_user(email, PASSWORD)
        assert refused.value.code == "invalid_email"

    async def test_short_password_is_refused_and_nothing_is_stored(self, store):
        with pytest.raises(WeakPassword) as refused:
            await store.create_user("alice@example.com", "1234567")
        assert refused.value.code == "weak_password"
        assert "8" in str(refused.value)
        assert await store.find_user_by_email("alice@example.com") is None
        # Exactly the minimum is fine.
        await store.create_user("alice@example.com", "12345678")

    async def test_unknown_user_id_raises_user_not_found(self, store):
        with pytest.raises(UserNotFound) as missing:
            await store.get_user("01j0000000000000000000000")
        assert missing.value.code == "user_not_found"
        assert await store.find_user_by_email("nobody@example.com") is None
        with pytest.raises(UserNotFound):
            await store.set_password("01j0000000000000000000000", PASSWORD)

    async def test_set_password_replaces_the_old_one(self, store):
        user = await store.create_user("alice@example.com", PASSWORD)
        await store.set_password(user.id, "a brand new password")
        with pytest.raises(InvalidCredentials):
            await store.authenticate("alice@example.com", PASSWORD)
        assert await store.authenticate("alice@example.com", "a brand new password") == user
        with pytest.raises(WeakPassword):
            await store.set_password(user.id, "short")

    async def test_disabled_user_can_neither_log_in_nor_use_a_token(self, store):
        user = await store.create_user("alice@example.com", PASSWORD)
        token, _ = await store.issue_token(user.id)
        assert (await store.set_disabled(user.id, True)).disabled is True
        with pytest.raises(UserDisabled):
            await store.authenticate("alice@example.com", PASSWORD)
        with pytest.raises(UserDisabled):
            await store.resolve_token(token)
        # A wrong password on a disabled account still says only "wrong credentials".
        with pytest.raises(InvalidCredentials):
            await store.authenticate("alice@example.com", "not the password")
        await store.set_disabled(user.id, False)
        assert (await store.resolve_token(token))[0].id == user.id

    async def test_login_rehashes_a_password_made_with_older_parameters(
        self, open_store, make_passwords, raw
    ):
        old = await open_store(passwords=make_passwords(memory_kib=8192))
        user = await old.create_user("alice@example.com", PASSWORD)
        [(before,)] = await raw("SELECT password_hash FROM users")
        assert before.startswith("$argon2id$") and "m=8192" in before
        # The deployment raises its memory cost; the next login upgrades the stored hash.
        new = await open_store(passwords=make_passwords(memory_kib=16384))
        assert await new.authenticate("alice@example.com", PASSWORD) == user
        [(after,)] = await raw("SELECT password_hash FROM users")
        assert after.startswith("$argon2id$") and "m=16384" in after
        assert await new.authenticate("alice@example.com", PASSWORD) == user

    async def test_passwords_are_stored_as_argon2id_hashes(self, store, raw):
        await store.create_user("alice@example.com", PASSWORD)
        [(encoded,)] = await raw("SELECT password_hash FROM users")
        assert encoded.startswith("$argon2id$")
        assert PASSWORD not in encoded

    async def test_concurrent_sign_ups_of_one_email_let_exactly_one_succeed(self, open_store, raw):
        # Two stores over one database, as two gateway processes would be.
        first, second = await open_store(), await open_store()
        spellings = ["bob@example.com", "BOB@example.com", "Bob@Example.com", "bob@EXAMPLE.COM"]
        attempts = [
            (first if i % 2 else second).create_user(spellings[i % 4], PASSWORD) for i in range(8)
        ]
        results = await asyncio.gather(*attempts, return_exceptions=True)
        created = [r for r in results if isinstance(r, User)]
        refused = [r for r in results if isinstance(r, EmailTaken)]
        assert len(created) == 1, results
        assert len(refused) == 7, results
        assert await raw("SELECT email FROM users") == [("bob@example.com",)]

    # --- API tokens ---

    async def test_token_resolves_to_its_user_and_is_listed(self, store, clock):
        user = await store.create_user("alice@example.com", PASSWORD)
        token, info = await store.issue_token(user.id, name="laptop")
        assert token.startswith("rs_") and len(token) >= 40
        assert info.user == user.id and info.name == "laptop"
        assert info.created_at == clock.now and info.expires_at is None
        assert info.last_used_at is None
        resolved_user, resolved = await store.resolve_token(token)
        assert resolved_user == user
        assert resolved.id == info.id and resolved.last_used_at == clock.now
        [listed] = await store.list_tokens(user.id)
        assert listed.id == info.id and listed.last_used_at == clock.now

    async def test_last_use_is_recorded_at_most_once_a_minute(self, store, clock):
        user = await store.create_user("alice@example.com", PASSWORD)
        token, _ = await store.issue_token(user.id)
        first_use = clock.now
        await store.resolve_token(token)
        clock.advance(59)
        _, info = await store.resolve_token(token)
        assert info.last_used_at == first_use
        assert (await store.list_tokens(user.id))[0].last_used_at == first_use
        clock.advance(1)
        _, info = await store.resolve_token(token)
        assert info.last_used_at == clock.now
        assert (await store.list_tokens(user.id))[0].last_used_at == clock.now

    async def test_token_expires_after_its_ttl(self, store, clock):
        user = await store.create_user("alice@example.com", PASSWORD)
        token, info = await store.issue_token(user.id, ttl_s=1)
        assert info.expires_at == clock.now + 1000
        clock.advance(0.999)
        assert (await store.resolve_token(token))[0] == user
        clock.advance(0.001)
        with pytest.raises(TokenExpired) as expired:
            await store.resolve_token(token)
        assert expired.value.code == "token_expired"

    async def test_bad_token_lifetimes_are_refused(self, store):
        user = await store.create_user("alice@example.com", PASSWORD)
        for ttl in (0, -5, 1.5, True):
            with pytest.raises(InvalidArgument):
                await store.issue_token(user.id, ttl_s=ttl)
        with pytest.raises(UserNotFound):
            await store.issue_token("01j0000000000000000000000")

    async def test_revoked_token_is_refused(self, store):
        alice = await store.create_user("alice@example.com", PASSWORD)
        bob = await store.create_user("bob@example.com", PASSWORD)
        kept, kept_info = await store.issue_token(alice.id, name="kept")
        gone, gone_info = await store.issue_token(alice.id, name="gone")
        # Bob cannot revoke Alice's token; it looks as if it did not exist.
        with pytest.raises(TokenNotFound) as not_yours:
            await store.revoke_token(bob.id, gone_info.id)
        assert not_yours.value.code == "token_not_found"
        await store.revoke_token(alice.id, gone_info.id)
        with pytest.raises(InvalidToken) as revoked:
            await store.resolve_token(gone)
        assert revoked.value.code == "invalid_token"
        assert (await store.resolve_token(kept))[0] == alice
        assert [t.id for t in await store.list_tokens(alice.id)] == [kept_info.id]
        assert await store.list_tokens(bob.id) == []
        with pytest.raises(TokenNotFound):
            await store.revoke_token(alice.id, gone_info.id)

    @pytest.mark.parametrize("token", ["", "Bearer x", "rs_", "rs_" + "A" * 43, "x" * 10_000])
    async def test_tokens_the_store_never_issued_are_invalid(self, store, token):
        with pytest.raises(InvalidToken):
            await store.resolve_token(token)

    async def test_tokens_are_stored_hashed(self, store, raw):
        user = await store.create_user("alice@example.com", PASSWORD)
        token, _ = await store.issue_token(user.id, name="laptop")
        rows = await raw("SELECT * FROM api_tokens")
        assert len(rows) == 1
        at_rest = repr(rows)
        assert token not in at_rest and token[3:] not in at_rest
        [(digest,)] = await raw("SELECT token_hash FROM api_tokens")
        assert bytes(digest) == hashlib.sha256(token.encode()).digest()

    # --- secrets ---

    async def test_secret_round_trip_replace_and_delete(self, store):
        assert await store.get_secret("book:1", "llm.api_key") is None
        await store.put_secret("book:1", "llm.api_key", "sk-first ✓")
        await store.put_secret("book:2", "llm.api_key", "sk-other")
        assert await store.get_secret("book:1", "llm.api_key") == "sk-first ✓"
        await store.put_secret("book:1", "llm.api_key", "sk-second")
        assert await store.get_secret("book:1", "llm.api_key") == "sk-second"
        await store.delete_secret("book:1", "llm.api_key")
        assert await store.get_secret("book:1", "llm.api_key") is None
        assert await store.get_secret("book:2", "llm.api_key") == "sk-other"
        await store.delete_secret("book:1", "llm.api_key")  # deleting nothing is fine

    async def test_secrets_are_stored_encrypted(self, store, raw):
        value = "sk-live-9f8e7d6c5b4a-very-secret"
        await store.put_secret("share:abc", "nats.password", value)
        rows = await raw("SELECT * FROM secrets")
        assert len(rows) == 1
        assert value not in repr(rows)
        [(sealed,)] = await raw("SELECT ciphertext FROM secrets")
        assert value.encode() not in bytes(sealed)

    async def test_secret_read_with_another_key_fails_clearly(self, store, open_store):
        await store.put_secret("book:1", "llm.api_key", "sk-123")
        other_key = SecretBox(SecretBox.generate_key())
        reopened = await open_store(box=other_key)
        with pytest.raises(DecryptionFailed) as failed:
            await reopened.get_secret("book:1", "llm.api_key")
        assert failed.value.code == "decryption_failed"
        assert "different secret key" in str(failed.value)
        assert "sk-123" not in str(failed.value)

    async def test_secret_moved_to_another_row_does_not_decrypt(self, store, raw):
        await store.put_secret("book:1", "llm.api_key", "sk-for-book-1")
        await store.put_secret("book:2", "llm.api_key", "sk-for-book-2")
        # Someone with database access copies book 1's ciphertext over book 2's.
        await raw(
            "UPDATE secrets SET ciphertext = (SELECT ciphertext FROM secrets WHERE scope = 'book:1')"
            " WHERE scope = 'book:2'"
        )
        with pytest.raises(DecryptionFailed) as failed:
            await store.get_secret("book:2", "llm.api_key")
        assert "altered" in str(failed.value)
        assert await store.get_secret("book:1", "llm.api_key") == "sk-for-book-1"

    async def test_secret_names_are_checked(self, store):
        with pytest.raises(InvalidArgument):
            await store.put_secret("", "llm.api_key", "x")
        with pytest.raises(InvalidArgument):
            await store.put_secret("book:1", "n" * 201, "x")
        with pytest.raises(InvalidArgument):
            await store.put_secret("book:1", "big", "x" * (64 * 1024 + 1))

    # --- share tokens ---

    async def test_share_token_round_trip_rotation_and_delete(self, store, clock):
        token = new_share_token()
        await store.put_share_token(token, share_id="sh1", chapter_id="ch1", mode="direct")
        opened = await store.resolve_share_token(token)
        assert (opened.share, opened.chapter, opened.mode) == ("sh1", "ch1", "direct")
        assert opened.created_at == clock.now
        # A second put for the same share replaces its token: the old one stops working.
        rotated = new_share_token()
        await store.put_share_token(rotated, share_id="sh1", chapter_id="ch1", mode="proxied")
        with pytest.raises(InvalidShareToken) as stale:
            await store.resolve_share_token(token)
        assert stale.value.code == "invalid_share_token"
        assert (await store.resolve_share_token(rotated)).mode == "proxied"
        await store.delete_share_token("sh1")
        with pytest.raises(InvalidShareToken):
            await store.resolve_share_token(rotated)
        await store.delete_share_token("sh1")  # deleting nothing is fine

    async def test_share_tokens_are_stored_hashed_and_checked(self, store, raw):
        token = new_share_token()
        await store.put_share_token(token, share_id="sh1", chapter_id="ch1", mode="copy")
        assert token not in repr(await raw("SELECT * FROM share_tokens"))
        with pytest.raises(InvalidArgument):
            await store.put_share_token(token, share_id="sh2", chapter_id="ch1", mode="copy")
        with pytest.raises(InvalidArgument):
            await store.put_share_token(new_share_token(), share_id="sh3", chapter_id="c", mode="x")
        with pytest.raises(InvalidArgument):
            await store.put_share_token("short", share_id="sh4", chapter_id="c", mode="copy")
        with pytest.raises(InvalidShareToken):
            await store.resolve_share_token(new_share_token())

    # --- lifecycle ---

    async def test_data_survives_reopening_and_schema_is_versioned(self, store, open_store, raw):
        user = await store.create_user("alice@example.com", PASSWORD)
        token, _ = await store.issue_token(user.id)
        await store.put_secret("book:1", "k", "v")
        await store.close()
        reopened = await open_store()
        assert await reopened.authenticate("alice@example.com", PASSWORD) == user
        assert (await reopened.resolve_token(token))[0] == user
        assert await reopened.get_secret("book:1", "k") == "v"
        assert await raw("SELECT version FROM schema_version") == [(1,)]

    async def test_a_closed_store_says_it_is_unavailable(self, store):
        user = await store.create_user("alice@example.com", PASSWORD)
        await store.close()
        await store.close()  # closing twice is harmless
        with pytest.raises(AccountStoreUnavailable):
            await store.get_user(user.id)
        with pytest.raises(AccountStoreUnavailable):
            await store.put_secret("book:1", "k", "v")

    async def test_every_error_carries_a_code(self, store):
        with pytest.raises(AccountError) as error:
            await store.get_user("nope")
        assert isinstance(error.value.code, str) and error.value.code


class TestSqliteAccountStore(AccountStoreContract):
    @pytest.fixture
    def open_backend(self, tmp_path) -> OpenStore:
        return functools.partial(SqliteAccountStore.open, tmp_path / "accounts.sqlite3")

    @pytest.fixture
    def raw(self, tmp_path) -> Raw:
        async def raw(query: str) -> list[Sequence[Any]]:
            with sqlite3.connect(tmp_path / "accounts.sqlite3") as db:
                return db.execute(query).fetchall()

        return raw

    async def test_database_file_is_private_and_in_wal_mode(self, store, tmp_path, raw):
        await store.create_user("alice@example.com", PASSWORD)
        assert (tmp_path / "accounts.sqlite3").stat().st_mode & 0o077 == 0
        assert await raw("PRAGMA journal_mode") == [("wal",)]


class TestPostgresAccountStore(AccountStoreContract):
    @pytest.fixture
    def open_backend(self, pg_schema) -> OpenStore:
        return functools.partial(PostgresAccountStore.open, pg_schema.url, schema=pg_schema.name)

    @pytest.fixture
    def raw(self, pg_schema) -> Raw:
        async def raw(query: str) -> list[Sequence[Any]]:
            async with await psycopg.AsyncConnection.connect(
                pg_schema.url, autocommit=True, options=f"-c search_path={pg_schema.name}"
            ) as conn:
                cursor = await conn.execute(query)  # type: ignore[arg-type]
                return await cursor.fetchall() if cursor.description else []

        return raw
