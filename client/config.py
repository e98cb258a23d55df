"""Where `ragstack login` keeps the server's URL and the API token.

The file is `$XDG_CONFIG_HOME/ragstack/credentials.json` (`~/.config/ragstack/…` by default),
readable by its owner only (0600, in a 0700 directory), because the token is a password.
`RAGSTACK_URL` and `RAGSTACK_TOKEN` override what the file says, so that a script or a CI job can
work without logging in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

__all__ = [
    "ConfigError",
    "Credentials",
    "clear_credentials",
    "config_dir",
    "credentials_path",
    "load_credentials",
    "save_credentials",
]

URL_ENV = "RAGSTACK_URL"
TOKEN_ENV = "RAGSTACK_TOKEN"


class ConfigError(Exception):
    """The credentials file exists but cannot be read or written."""


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """A server and a token for it."""

    url: str
    """The gateway's base URL, e.g. `http://127.0.0.1:8000`."""
    token: str | None = None
    """The bearer token (`rs_…`); None when only the URL is known."""
    email: str | None = None
    """Who logged in, for display."""
    token_id: str | None = None
    """The token's id, so that `logout` can revoke it."""


def config_dir(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/ragstack`, or `~/.config/ragstack`."""
    environ = os.environ if environ is None else environ
    base = environ.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base) / "ragstack"


def credentials_path(environ: Mapping[str, str] | None = None) -> Path:
    """The credentials file."""
    return config_dir(environ) / "credentials.json"


def _read_file(path: Path) -> Credentials | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return msgspec.json.decode(raw, type=Credentials)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ConfigError(
            f"{path} is damaged ({exc}); run `ragstack login` again or delete it"
        ) from None


def load_credentials(environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The saved credentials with the environment's overrides; None when there is no URL."""
    environ = os.environ if environ is None else environ
    saved = _read_file(credentials_path(environ))
    url = environ.get(URL_ENV) or (saved.url if saved else None)
    if not url:
        return None
    token = environ.get(TOKEN_ENV)
    if token:
        return Credentials(url=url, token=token)
    if saved is not None and saved.url.rstrip("/") == url.rstrip("/"):
        return saved
    # A URL from the environment with no token for it: the saved token belongs to another server.
    return Credentials(url=url)


def save_credentials(credentials: Credentials, environ: Mapping[str, str] | None = None) -> Path:
    """Write the file atomically, owner-only; returns its path."""
    path = credentials_path(environ)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        # Created 0600 from the start: the token is never readable by others, not even briefly.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(msgspec.json.format(msgspec.json.encode(credentials)))
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    return path


def clear_credentials(environ: Mapping[str, str] | None = None) -> bool:
    """Delete the file; False when there was none."""
    path = credentials_path(environ)
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise ConfigError(f"cannot delete {path}: {exc.strerror}") from None
    return True
