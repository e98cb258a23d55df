"""The `keys` fixture: a book key store (engine/keys.py) over the session's nats-server and a
fresh accounts store, for the tests of keys, signed heads and archives."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from engine.accounts import open_account_store
from engine.accounts.secrets import SecretBox
from engine.books import Books
from engine.keys import BookKeys
from engine.log import Logs
from tests.accounts_support import fast_passwords

__all__ = ["keys"]


@pytest.fixture
async def keys(shared_nc, tmp_path) -> AsyncIterator[BookKeys]:
    passwords = fast_passwords()
    accounts = await open_account_store(
        tmp_path / "accounts.sqlite3", SecretBox.load(tmp_path), passwords=passwords
    )
    async with Logs(shared_nc) as logs:
        books = Books(logs)
        await books.start()
        yield BookKeys(logs, books, accounts)
        await books.stop()
    await accounts.close()
    passwords.close()
