"""The accounts store: users, API tokens, share tokens and encrypted secrets.

Secrets (passwords, API keys, share credentials) never enter an event log; they live here.
Passwords are hashed with argon2id, API and share tokens are stored as SHA-256 digests (they
are 256-bit random strings, so a fast hash is enough), and secrets are sealed with AES-GCM under
a key the store is given (`SecretBox`). Two backends pass one contract suite: SQLite (the
embedded default) and PostgreSQL. `open_account_store(url, box)` picks one from a URL.

Every error is an `AccountError` with a `code`; the gateway maps codes to HTTP statuses.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from engine.errors import EngineError
from events.chapter import ShareMode

if TYPE_CHECKING:
    from engine.accounts.secrets import SecretBox

__all__ = [
    "AccountError",
    "AccountStore",
    "AccountStoreConfigError",
    "AccountStoreUnavailable",
    "DecryptionFailed",
    "EmailTaken",
    "InvalidArgument",
    "InvalidCredentials",
    "InvalidEmail",
    "InvalidShareToken",
    "InvalidToken",
    "SecretKeyError",
    "ShareToken",
    "TokenExpired",
    "TokenInfo",
    "TokenNotFound",
    "User",
    "UserDisabled",
    "UserNotFound",
    "WeakPassword",
    "open_account_store",
]


# --- records ---


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A person who can sign in."""

    id: str
    """ULID (events.new_id)."""
    email: str
    """Normalised e-mail: trimmed and lower-case; unique."""
    name: str
    """Display name; may be empty."""
    created_at: int
    """Unix ms of sign-up."""
    disabled: bool = False
    """A disabled user can neither sign in nor use a token."""


class TokenInfo(msgspec.Struct, frozen=True, kw_only=True):
    """An API token's public facts (the token itself is shown once, at issue)."""

    id: str
    """ULID of the token, used to list and revoke it."""
    user: str
    """Id of the user the token acts as."""
    name: str
    """A label the user chose ("laptop", "ci")."""
    created_at: int
    """Unix ms of issue."""
    expires_at: int | None
    """Unix ms after which the token is refused; None never expires."""
    last_used_at: int | None
    """Unix ms of the last use, kept to within a minute; None if never used."""


class ShareToken(msgspec.Struct, frozen=True, kw_only=True):
    """What a share token opens."""

    share: str
    """Share id (from ShareGranted)."""
    chapter: str
    """Chapter id the share grants."""
    mode: ShareMode
    """copy, proxied or direct."""
    created_at: int
    """Unix ms the token was stored."""


# --- errors ---


class AccountError(EngineError):
    """Base of the accounts store's errors; `code` is stable and maps to an HTTP status."""

    code = "account_error"


class InvalidArgument(AccountError, ValueError):
    """A value the store cannot take (too long, empty, out of range)."""

    code = "invalid_argument"


class InvalidEmail(InvalidArgument):
    """Not an e-mail address."""

    code = "invalid_email"


class WeakPassword(InvalidArgument):
    """A password shorter than the minimum (or absurdly long)."""

    code = "weak_password"


class EmailTaken(AccountError):
    """Another user already has this e-mail address (compared case-insensitively)."""

    code = "email_taken"

    def __init__(self, email: str) -> None:
        super().__init__(f"an account with the e-mail {email} already exists")
        self.email = email


class InvalidCredentials(AccountError):
    """Unknown e-mail or wrong password: deliberately the same error for both."""

    code = "invalid_credentials"

    def __init__(self) -> None:
        super().__init__("the e-mail or the password is wrong")


class UserNotFound(AccountError):
    """No user has this id."""

    code = "user_not_found"

    def __init__(self, user_id: str) -> None:
        super().__init__(f"no user has the id {user_id!r}")
        self.user_id = user_id


class UserDisabled(AccountError):
    """The account exists but has been disabled."""

    code = "user_disabled"

    def __init__(self, user_id: str) -> None:
        super().__init__("this account is disabled")
        self.user_id = user_id


class InvalidToken(AccountError):
    """Not a token this store issued, or one that was revoked."""

    code = "invalid_token"

    def __init__(self, reason: str = "the API token is not valid (unknown or revoked)") -> None:
        super().__init__(reason)


class TokenExpired(AccountError):
    """A token past its expiry."""

    code = "token_expired"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"the API token {token_id} has expired")
        self.token_id = token_id


class TokenNotFound(AccountError):
    """The user has no token with this id (revoking someone else's token lands here too)."""

    code = "token_not_found"

    def __init__(self, token_id: str) -> None:
        super().__init__(f"no API token with the id {token_id!r}")
        self.token_id = token_id


class InvalidShareToken(AccountError):
    """Not a share token this store holds (unknown, or the share was revoked)."""

    code = "invalid_share_token"

    def __init__(self) -> None:
        super().__init__("the share token is not valid (unknown or revoked)")


class SecretKeyError(AccountError):
    """The secret key cannot be loaded: missing, malformed, wrong length or unsafe permissions."""

    code = "secret_key_error"


class DecryptionFailed(AccountError):
    """A stored secret does not open with the current key (a different key, or altered bytes)."""

    code = "decryption_failed"


class AccountStoreConfigError(AccountError, ValueError):
    """A store URL or option that cannot be used."""

    code = "account_store_config"


class AccountStoreUnavailable(AccountError):
    """The database could not be reached or refused the connection."""

    code = "account_store_unavailable"


# --- the interface ---


class AccountStore(Protocol):
    """Users, tokens, share tokens and secrets; every method may raise AccountStoreUnavailable."""

    async def create_user(self, email: str, password: str, name: str = "") -> User:
        """Sign a user up. Raises EmailTaken, WeakPassword, InvalidEmail, InvalidArgument."""
        ...

    async def authenticate(self, email: str, password: str) -> User:
        """The user with these credentials. Raises InvalidCredentials, UserDisabled."""
        ...

    async def get_user(self, user_id: str) -> User:
        """Raises UserNotFound."""
        ...

    async def find_user_by_email(self, email: str) -> User | None:
        """The user with this e-mail (any case), or None."""
        ...

    async def set_password(self, user_id: str, password: str) -> None:
        """Raises UserNotFound, WeakPassword."""
        ...

    async def set_disabled(self, user_id: str, disabled: bool) -> User:
        """Disable or re-enable an account. Raises UserNotFound."""
        ...

    async def delete_user(self, user_id: str) -> None:
        """Erase the account: its profile and every token. Raises UserNotFound."""
        ...

    async def issue_token(
        self, user_id: str, *, name: str = "", ttl_s: int | None = None
    ) -> tuple[str, TokenInfo]:
        """A new API token: the plaintext (shown once) and its facts. Raises UserNotFound."""
        ...

    async def resolve_token(self, token: str) -> tuple[User, TokenInfo]:
        """Who a token acts as. Raises InvalidToken, TokenExpired, UserDisabled."""
        ...

    async def list_tokens(self, user_id: str) -> list[TokenInfo]:
        """The user's tokens, oldest first. Raises UserNotFound."""
        ...

    async def revoke_token(self, user_id: str, token_id: str) -> None:
        """Delete one of the user's tokens. Raises TokenNotFound."""
        ...

    async def put_secret(self, scope: str, name: str, value: str) -> None:
        """Store (or replace) a secret, encrypted, e.g. ("book:<id>", "llm.api_key")."""
        ...

    async def get_secret(self, scope: str, name: str) -> str | None:
        """The secret's plaintext, or None. Raises DecryptionFailed."""
        ...

    async def delete_secret(self, scope: str, name: str) -> None:
        """Forget a secret (no error if there was none)."""
        ...

    async def secret_names(self, scope: str) -> list[str]:
        """The names of the secrets stored under `scope`, sorted (never their values)."""
        ...

    async def put_share_token(
        self, token: str, *, share_id: str, chapter_id: str, mode: ShareMode
    ) -> None:
        """Store a share's token (hashed); a second put for the same share replaces its token."""
        ...

    async def resolve_share_token(self, token: str) -> ShareToken:
        """What a share token opens. Raises InvalidShareToken."""
        ...

    async def delete_share_token(self, share_id: str) -> None:
        """Forget a share's token (no error if there was none)."""
        ...

    async def close(self) -> None:
        """Release connections; the store is unusable afterwards."""
        ...


async def open_account_store(
    url: str | os.PathLike[str], secret_box: SecretBox, **options: Any
) -> AccountStore:
    """Open (and migrate) the store at `url`.

    `postgresql://…` (or `postgres://…`) opens PostgreSQL; `sqlite:///abs/path`,
    `sqlite://rel/path` or a plain path opens SQLite. `options` go to the backend's `open`
    (`passwords`, `clock`; for PostgreSQL also `schema`, `min_size`, `max_size`,
    `connect_timeout`).
    """
    text = os.fspath(url)
    if text.startswith(("postgresql://", "postgres://")):
        from engine.accounts.postgres import PostgresAccountStore

        return await PostgresAccountStore.open(text, secret_box, **options)
    if text.startswith("sqlite://"):
        rest = text[len("sqlite://") :]
        # sqlite:///abs/path is absolute, sqlite://rel/path relative (extra slashes collapse).
        path = "/" + rest.lstrip("/") if rest.startswith("/") else rest
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise AccountStoreConfigError(
            f"unsupported accounts store scheme {scheme!r}: use postgresql://… or a SQLite path"
        )
    else:
        path = text
    if not path:
        raise AccountStoreConfigError("the accounts store URL names no SQLite file")
    from engine.accounts.sqlite import SqliteAccountStore

    return await SqliteAccountStore.open(
        path if path == ":memory:" else Path(path), secret_box, **options
    )
