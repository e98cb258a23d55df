"""The accounts store's rules, written once over a tiny SQL surface that each backend provides.

The backends differ only in their driver and DDL; every query here is portable SQL with `?`
placeholders (the PostgreSQL backend rewrites them to `%s`). A backend implements `_execute`,
`_fetchone`, `_fetchall` and `_close`, and turns a unique-constraint violation into `Conflict`.

It is one module (about 420 lines) on purpose: it is the whole contract both backends share.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, get_args

import msgspec

from engine.accounts import (
    EmailTaken,
    InvalidArgument,
    InvalidCredentials,
    InvalidEmail,
    InvalidShareToken,
    InvalidToken,
    ShareToken,
    TokenExpired,
    TokenInfo,
    TokenNotFound,
    User,
    UserDisabled,
    UserNotFound,
)
from engine.accounts.passwords import Passwords, check_password
from engine.accounts.secrets import SecretBox
from events.chapter import ShareMode
from events.ids import new_id

__all__ = [
    "API_TOKEN_PREFIX",
    "SHARE_TOKEN_PREFIX",
    "Clock",
    "Conflict",
    "SqlAccountStore",
    "new_share_token",
    "normalise_email",
    "system_clock",
]

Clock = Callable[[], int]
"""Returns the time as unix milliseconds; injectable so tests can move time."""

API_TOKEN_PREFIX = "rs_"
"""API tokens start with this, so that people and secret scanners recognise them."""
SHARE_TOKEN_PREFIX = "rsh_"
"""Share tokens made by `new_share_token` start with this."""

_TOKEN_BYTES = 32
_TOUCH_INTERVAL_MS = 60_000  # last_used_at is refreshed at most once a minute per token
_MAX_TTL_S = 10 * 365 * 24 * 3600
_MAX_LABEL = 200
_MAX_SECRET_BYTES = 64 * 1024
_SHARE_MODES: tuple[str, ...] = get_args(ShareMode)

_USER_COLUMNS = "u.id, u.email, u.name, u.created_at, u.disabled"
_TOKEN_COLUMNS = "t.id, t.user_id, t.name, t.created_at, t.expires_at, t.last_used_at"
_DOMAIN_LABEL = r"[^\W_](?:[\w-]*[^\W_])?"
_DOMAIN = re.compile(rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*")


class Conflict(Exception):
    """Raised by a backend when a write breaks a unique constraint."""


def system_clock() -> int:
    """Now, in unix milliseconds."""
    return time.time_ns() // 1_000_000


def normalise_email(email: object) -> str:
    """`email` trimmed and lower-cased, or InvalidEmail if it is not an address."""
    if not isinstance(email, str):
        raise InvalidEmail("the e-mail address must be a string")
    value = email.strip().lower()
    local, at, domain = value.rpartition("@")
    if (
        not at
        or not 1 <= len(local) <= 64
        or not 1 <= len(domain) <= 253
        or len(value) > 254
        or "@" in local
        or not all(c.isprintable() and not c.isspace() for c in local)
        or _DOMAIN.fullmatch(domain) is None
    ):
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise InvalidEmail(f"not an e-mail address: {shown!r}")
    return value


def new_share_token() -> str:
    """A fresh random share token (256 bits) for `put_share_token`."""
    return SHARE_TOKEN_PREFIX + _random_token_body()


def _random_token_body() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(_TOKEN_BYTES)).decode("ascii").rstrip("=")


def _token_digest(token: str) -> bytes:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing is left to brute-force.
    return hashlib.sha256(token.encode("utf-8")).digest()


def _label(value: object, what: str, *, required: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"the {what} must be a string")
    value = value.strip()
    if required and not value:
        raise InvalidArgument(f"the {what} must not be empty")
    if len(value) > _MAX_LABEL:
        raise InvalidArgument(f"the {what} must have at most {_MAX_LABEL} characters")
    return value


def _secret_address(scope: object, name: object) -> tuple[str, str]:
    return _label(scope, "secret scope", required=True), _label(name, "secret name", required=True)


def _secret_aad(scope: str, name: str) -> bytes:
    # Length-prefixed, so no choice of scope and name can collide with another pair.
    parts = [p.encode("utf-8") for p in (scope, name)]
    return b"ragstack.secret.v1" + b"".join(len(p).to_bytes(4, "big") + p for p in parts)


def _user(row: Sequence[Any]) -> User:
    return User(id=row[0], email=row[1], name=row[2], created_at=int(row[3]), disabled=bool(row[4]))


def _token_info(row: Sequence[Any]) -> TokenInfo:
    return TokenInfo(
        id=row[0],
        user=row[1],
        name=row[2],
        created_at=int(row[3]),
        expires_at=None if row[4] is None else int(row[4]),
        last_used_at=None if row[5] is None else int(row[5]),
    )


Db = TypeVar("Db")
"""A backend's handle on its database: a connection, a pool."""


class SqlAccountStore(ABC, Generic[Db]):
    """Implements AccountStore over `_execute`/`_fetchone`/`_fetchall` of a backend."""

    def __init__(
        self,
        db: Db,
        where: str,
        secret_box: SecretBox,
        *,
        passwords: Passwords | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Use the backend's `open`; this takes an open database, migrated.

        `where` names the database in messages (never with its password).
        """
        if not isinstance(secret_box, SecretBox):
            raise TypeError("the accounts store needs a SecretBox")
        self._db = db
        self._where = where
        self._box = secret_box
        self._owns_passwords = passwords is None
        self._passwords = passwords or Passwords()
        self._clock = clock or system_clock

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._where!r})"

    # --- what a backend provides ---

    @abstractmethod
    async def _execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement in its own transaction; return the rows affected."""

    @abstractmethod
    async def _fetchone(self, sql: str, params: Sequence[Any] = ()) -> Sequence[Any] | None:
        """The first row of a query, or None."""

    @abstractmethod
    async def _fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """Every row of a query."""

    @abstractmethod
    async def _close(self) -> None:
        """Release the backend's connections."""

    async def close(self) -> None:
        await self._close()
        if self._owns_passwords:
            self._passwords.close()

    # --- users ---

    async def create_user(self, email: str, password: str, name: str = "") -> User:
        email = normalise_email(email)
        check_password(password)
        name = _label(name, "name")
        # Fail before spending a hash when the address is plainly taken; the unique
        # constraint still decides races.
        if await self.find_user_by_email(email) is not None:
            raise EmailTaken(email)
        encoded = await self._passwords.hash(password)
        user = User(id=new_id(), email=email, name=name, created_at=self._clock())
        try:
            await self._execute(
                "INSERT INTO users (id, email, name, password_hash, created_at, disabled)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (user.id, user.email, user.name, encoded, user.created_at, False),
            )
        except Conflict:
            raise EmailTaken(email) from None
        return user

    async def authenticate(self, email: str, password: str) -> User:
        try:
            email = normalise_email(email)
        except InvalidEmail:
            email = ""
        row = None
        if email and isinstance(password, str) and len(password) <= 4096:
            row = await self._fetchone(
                f"SELECT {_USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = ?", (email,)
            )
        if row is None:
            # Spend the same time as a real check, so response times do not reveal who exists.
            await self._passwords.burn(password if isinstance(password, str) else "")
            raise InvalidCredentials()
        user, encoded = _user(row), row[5]
        if not await self._passwords.verify(encoded, password):
            raise InvalidCredentials()
        if user.disabled:
            raise UserDisabled(user.id)
        if self._passwords.needs_rehash(encoded):
            # Only replace the hash we checked: a concurrent set_password wins.
            await self._execute(
                "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                (await self._passwords.hash(password), user.id, encoded),
            )
        return user

    async def get_user(self, user_id: str) -> User:
        row = await self._fetchone(
            f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = ?", (user_id,)
        )
        if row is None:
            raise UserNotFound(user_id)
        return _user(row)

    async def find_user_by_email(self, email: str) -> User | None:
        try:
            email = normalise_email(email)
        except InvalidEmail:
            return None
        row = await self._fetchone(
            f"SELECT {_USER_COLUMNS} FROM users u WHERE u.email = ?", (email,)
        )
        return None if row is None else _user(row)

    async def set_password(self, user_id: str, password: str) -> None:
        check_password(password)
        await self.get_user(user_id)
        encoded = await self._passwords.hash(password)
        if not await self._execute(
            "UPDATE users SET password_hash = ? WHERE id = ?", (encoded, user_id)
        ):
            raise UserNotFound(user_id)

    async def set_disabled(self, user_id: str, disabled: bool) -> User:
        if not await self._execute(
            "UPDATE users SET disabled = ? WHERE id = ?", (bool(disabled), user_id)
        ):
            raise UserNotFound(user_id)
        return await self.get_user(user_id)

    async def delete_user(self, user_id: str) -> None:
        # An erasure (engine/erasure.py): the profile row and every token go, not just disabled.
        await self._execute("DELETE FROM api_tokens WHERE user_id = ?", (user_id,))
        if not await self._execute("DELETE FROM users WHERE id = ?", (user_id,)):
            raise UserNotFound(user_id)

    # --- API tokens ---

    async def issue_token(
        self, user_id: str, *, name: str = "", ttl_s: int | None = None
    ) -> tuple[str, TokenInfo]:
        name = _label(name, "token name")
        if ttl_s is not None and (
            not isinstance(ttl_s, int) or isinstance(ttl_s, bool) or not 0 < ttl_s <= _MAX_TTL_S
        ):
            raise InvalidArgument(
                f"a token's lifetime must be a whole number of seconds from 1 to {_MAX_TTL_S}"
            )
        user = await self.get_user(user_id)
        if user.disabled:
            raise UserDisabled(user.id)
        token = API_TOKEN_PREFIX + _random_token_body()
        now = self._clock()
        info = TokenInfo(
            id=new_id(),
            user=user.id,
            name=name,
            created_at=now,
            expires_at=None if ttl_s is None else now + ttl_s * 1000,
            last_used_at=None,
        )
        await self._execute(
            "INSERT INTO api_tokens (id, token_hash, user_id, name, created_at, expires_at,"
            " last_used_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (info.id, _token_digest(token), info.user, info.name, now, info.expires_at, None),
        )
        return token, info

    async def resolve_token(self, token: str) -> tuple[User, TokenInfo]:
        if not isinstance(token, str) or not token.startswith(API_TOKEN_PREFIX):
            raise InvalidToken(f"not a RagStack API token (they start with {API_TOKEN_PREFIX})")
        if len(token) > 200:
            raise InvalidToken()
        row = await self._fetchone(
            f"SELECT {_TOKEN_COLUMNS}, {_USER_COLUMNS} FROM api_tokens t"
            " JOIN users u ON u.id = t.user_id WHERE t.token_hash = ?",
            (_token_digest(token),),
        )
        if row is None:
            raise InvalidToken()
        info, user = _token_info(row[:6]), _user(row[6:])
        now = self._clock()
        if info.expires_at is not None and now >= info.expires_at:
            raise TokenExpired(info.id)
        if user.disabled:
            raise UserDisabled(user.id)
        if info.last_used_at is None or now - info.last_used_at >= _TOUCH_INTERVAL_MS:
            # Conditional, so that many concurrent requests with one token write once.
            await self._execute(
                "UPDATE api_tokens SET last_used_at = ? WHERE id = ?"
                " AND (last_used_at IS NULL OR last_used_at <= ?)",
                (now, info.id, now - _TOUCH_INTERVAL_MS),
            )
            info = msgspec.structs.replace(info, last_used_at=now)
        return user, info

    async def list_tokens(self, user_id: str) -> list[TokenInfo]:
        await self.get_user(user_id)
        rows = await self._fetchall(
            f"SELECT {_TOKEN_COLUMNS} FROM api_tokens t WHERE t.user_id = ?"
            " ORDER BY t.created_at, t.id",
            (user_id,),
        )
        return [_token_info(r) for r in rows]

    async def revoke_token(self, user_id: str, token_id: str) -> None:
        if not await self._execute(
            "DELETE FROM api_tokens WHERE id = ? AND user_id = ?", (token_id, user_id)
        ):
            raise TokenNotFound(token_id)

    # --- secrets ---

    async def put_secret(self, scope: str, name: str, value: str) -> None:
        scope, name = _secret_address(scope, name)
        if not isinstance(value, str):
            raise InvalidArgument("a secret's value must be a string")
        plain = value.encode("utf-8")
        if len(plain) > _MAX_SECRET_BYTES:
            raise InvalidArgument(f"a secret's value must be at most {_MAX_SECRET_BYTES} bytes")
        sealed = self._box.seal(plain, _secret_aad(scope, name))
        await self._execute(
            "INSERT INTO secrets (scope, name, ciphertext, updated_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (scope, name) DO UPDATE"
            " SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at",
            (scope, name, sealed, self._clock()),
        )

    async def get_secret(self, scope: str, name: str) -> str | None:
        scope, name = _secret_address(scope, name)
        row = await self._fetchone(
            "SELECT ciphertext FROM secrets WHERE scope = ? AND name = ?", (scope, name)
        )
        if row is None:
            return None
        plain = self._box.open(
            row[0], _secret_aad(scope, name), what=f"the secret {name} of {scope}"
        )
        return plain.decode("utf-8")

    async def delete_secret(self, scope: str, name: str) -> None:
        scope, name = _secret_address(scope, name)
        await self._execute("DELETE FROM secrets WHERE scope = ? AND name = ?", (scope, name))

    async def secret_names(self, scope: str) -> list[str]:
        scope = _label(scope, "secret scope", required=True)
        rows = await self._fetchall(
            "SELECT name FROM secrets WHERE scope = ? ORDER BY name", (scope,)
        )
        return [str(row[0]) for row in rows]

    # --- share tokens ---

    async def put_share_token(
        self, token: str, *, share_id: str, chapter_id: str, mode: ShareMode
    ) -> None:
        if not isinstance(token, str) or not 24 <= len(token) <= 512:
            raise InvalidArgument("a share token must be a string of 24 to 512 characters")
        share_id = _label(share_id, "share id", required=True)
        chapter_id = _label(chapter_id, "chapter id", required=True)
        if mode not in _SHARE_MODES:
            raise InvalidArgument(
                f"unknown share mode {mode!r}: use one of {', '.join(_SHARE_MODES)}"
            )
        try:
            await self._execute(
                "INSERT INTO share_tokens (share_id, token_hash, chapter_id, mode, created_at)"
                " VALUES (?, ?, ?, ?, ?) ON CONFLICT (share_id) DO UPDATE"
                " SET token_hash = excluded.token_hash, chapter_id = excluded.chapter_id,"
                " mode = excluded.mode, created_at = excluded.created_at",
                (share_id, _token_digest(token), chapter_id, mode, self._clock()),
            )
        except Conflict:
            raise InvalidArgument("this share token is already in use by another share") from None

    async def resolve_share_token(self, token: str) -> ShareToken:
        if not isinstance(token, str) or not 24 <= len(token) <= 512:
            raise InvalidShareToken()
        row = await self._fetchone(
            "SELECT share_id, chapter_id, mode, created_at FROM share_tokens WHERE token_hash = ?",
            (_token_digest(token),),
        )
        if row is None:
            raise InvalidShareToken()
        return ShareToken(share=row[0], chapter=row[1], mode=row[2], created_at=int(row[3]))

    async def delete_share_token(self, share_id: str) -> None:
        await self._execute("DELETE FROM share_tokens WHERE share_id = ?", (share_id,))
