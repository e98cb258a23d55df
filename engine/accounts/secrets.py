"""Encryption at rest for the accounts store: AES-256-GCM under one 32-byte key.

The key comes from `RAGSTACK_SECRET_KEY` (base64) or from `<data_dir>/secret.key`, which is
created with 0600 permissions on first use. A sealed value is

    version (1 byte) | key id (4 bytes) | nonce (12 bytes) | ciphertext + GCM tag

where the key id is a digest of the key, so that a value sealed under another key can be told
apart from a value that was altered. Associated data binds a value to where it is stored (the
caller passes e.g. scope + name), so ciphertexts cannot be swapped between rows.

The key itself is held only inside the AESGCM object: it never appears in a repr, a log line or
an error message.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from engine.accounts import DecryptionFailed, SecretKeyError

__all__ = ["ENV_VAR", "KEY_FILE_NAME", "KEY_SIZE", "SecretBox"]

KEY_SIZE = 32
"""Bytes in a key (AES-256)."""
ENV_VAR = "RAGSTACK_SECRET_KEY"
"""Environment variable holding the key as base64; it wins over the key file."""
KEY_FILE_NAME = "secret.key"
"""The key file's name inside the data directory."""

_VERSION = 1
_NONCE_SIZE = 12
_KEY_ID_SIZE = 4
_HEADER_SIZE = 1 + _KEY_ID_SIZE + _NONCE_SIZE


def _key_id(key: bytes) -> bytes:
    return hashlib.sha256(b"ragstack.secret-key-id.v1" + key).digest()[:_KEY_ID_SIZE]


def _decode_key(text: str, where: str) -> bytes:
    # Standard and URL-safe base64 are both accepted: people paste keys from either tool.
    cleaned = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        key = base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SecretKeyError(f"the secret key in {where} is not valid base64") from None
    if len(key) != KEY_SIZE:
        raise SecretKeyError(
            f"the secret key in {where} decodes to {len(key)} bytes; it must be {KEY_SIZE} bytes"
            " (make one with: python -c 'import os, base64; print(base64.b64encode(os.urandom(32)).decode())')"
        )
    return key


@final
class SecretBox:
    """Seals and opens small values with AES-256-GCM; built from a key, a key file or the env."""

    __slots__ = ("_aead", "_derivation", "_key_id")

    def __init__(self, key: bytes) -> None:
        if not isinstance(key, bytes | bytearray) or len(key) != KEY_SIZE:
            raise SecretKeyError(f"a secret key must be {KEY_SIZE} bytes")
        self._aead = AESGCM(bytes(key))
        self._key_id = _key_id(bytes(key))
        # A one-way image of the key that `derive` starts from (never the key itself).
        self._derivation = hmac.digest(bytes(key), b"ragstack.derive.v1", "sha256")

    def __repr__(self) -> str:
        return f"SecretBox(key_id={self.key_id})"

    def __reduce__(self) -> object:
        # Pickling would copy the key into whatever stores the pickle.
        raise TypeError("a SecretBox cannot be pickled")

    @property
    def key_id(self) -> str:
        """Hex of the 4-byte key id (a digest, not the key): tells keys apart in messages."""
        return self._key_id.hex()

    def derive(self, purpose: str) -> bytes:
        """A 32-byte key for `purpose` ("csrf"), derived from this box's key: a server key that
        every process holding the box shares, with no file of its own, revealing nothing of it."""
        return hmac.digest(self._derivation, purpose.encode("utf-8"), "sha256")

    @staticmethod
    def generate_key() -> bytes:
        """A fresh random key."""
        return secrets.token_bytes(KEY_SIZE)

    @classmethod
    def from_base64(cls, text: str, *, where: str = "the given text") -> SecretBox:
        """A box from a base64 key (standard or URL-safe alphabet)."""
        return cls(_decode_key(text, where))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> SecretBox | None:
        """A box from RAGSTACK_SECRET_KEY, or None when the variable is unset or empty."""
        text = (os.environ if environ is None else environ).get(ENV_VAR, "")
        if not text.strip():
            return None
        return cls.from_base64(text, where=ENV_VAR)

    @classmethod
    def from_key_file(cls, path: str | os.PathLike[str], *, create: bool = True) -> SecretBox:
        """A box from a key file (base64), creating it with a random key and 0600 if missing."""
        path = Path(path)
        try:
            return cls._read_key_file(path)
        except FileNotFoundError:
            if not create:
                raise SecretKeyError(f"the secret key file {path} does not exist") from None
        cls._create_key_file(path)
        return cls._read_key_file(path)

    @classmethod
    def load(
        cls, data_dir: str | os.PathLike[str], environ: Mapping[str, str] | None = None
    ) -> SecretBox:
        """RAGSTACK_SECRET_KEY if set, else `<data_dir>/secret.key` (created on first use)."""
        return cls.from_env(environ) or cls.from_key_file(Path(data_dir) / KEY_FILE_NAME)

    @classmethod
    def _read_key_file(cls, path: Path) -> SecretBox:
        try:
            info = path.stat()
            if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
                # Like ssh: a key others can read is a key that has already leaked.
                raise SecretKeyError(
                    f"the secret key file {path} can be read by other users"
                    f" (mode {stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}"
                )
            text = path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not text"
            raise SecretKeyError(f"the secret key file {path} cannot be read: {reason}") from None
        return cls.from_base64(text, where=str(path))

    @staticmethod
    def _create_key_file(path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # Write a private temp file, then link it into place: the link fails if another
            # process made the key first, and nobody ever sees a half-written key.
            tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write(base64.b64encode(SecretBox.generate_key()).decode("ascii") + "\n")
                    out.flush()
                    os.fsync(out.fileno())
                with contextlib.suppress(FileExistsError):
                    os.link(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
        except OSError as exc:
            raise SecretKeyError(
                f"the secret key file {path} cannot be created: {exc.strerror or exc}"
            ) from None

    def seal(self, plaintext: bytes, associated_data: bytes) -> bytes:
        """Encrypt `plaintext`, bound to `associated_data` (needed again to open it)."""
        nonce = secrets.token_bytes(_NONCE_SIZE)
        sealed = self._aead.encrypt(nonce, plaintext, associated_data)
        return bytes([_VERSION]) + self._key_id + nonce + sealed

    def open(self, blob: bytes, associated_data: bytes, *, what: str = "a secret") -> bytes:
        """Decrypt a sealed value; DecryptionFailed names the cause without revealing the key."""
        blob = bytes(blob)
        if len(blob) < _HEADER_SIZE + 16 or blob[0] != _VERSION:
            raise DecryptionFailed(f"{what} cannot be decrypted: the stored value is malformed")
        key_id = blob[1 : 1 + _KEY_ID_SIZE]
        if key_id != self._key_id:
            raise DecryptionFailed(
                f"{what} cannot be decrypted: it was encrypted with a different secret key"
                f" (key id {key_id.hex()}; the current key's id is {self.key_id});"
                f" restore the original {KEY_FILE_NAME} or {ENV_VAR}"
            )
        nonce = blob[1 + _KEY_ID_SIZE : _HEADER_SIZE]
        try:
            return self._aead.decrypt(nonce, blob[_HEADER_SIZE:], associated_data)
        except InvalidTag:
            raise DecryptionFailed(
                f"{what} cannot be decrypted: the stored value was altered or belongs elsewhere"
            ) from None
