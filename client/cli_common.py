"""What every CLI command shares: output (rich for people, JSON for scripts), errors, the client.

Errors go to stderr with exit status 1 — as a sentence for people, or as
`{"error": {"code", "message", "status"}}` with `--json` — and never as a traceback.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Annotated, Any, NoReturn

import msgspec
import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from client.config import ConfigError, Credentials, load_credentials
from client.errors import ApiError
from client.sync import Client

__all__ = [
    "CliError",
    "JsonOpt",
    "console",
    "emit_json",
    "errors_handled",
    "fail",
    "id_table",
    "logged_in",
    "open_client",
    "report",
    "stderr",
    "to_builtins",
]

console = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON for scripts instead of text for people.")
]


class CliError(Exception):
    """A failure the CLI reports in one sentence (with a stable code for --json)."""

    def __init__(self, message: str, *, code: str = "error", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status


def to_builtins(value: Any) -> Any:
    """Structs, lists of Structs, bytes (as hex, the way hashes are read): JSON-ready."""
    return _hex_bytes(msgspec.to_builtins(value, builtin_types=(bytes,)))


def _hex_bytes(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {k: _hex_bytes(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_hex_bytes(v) for v in value]
    return value


def emit_json(value: Any) -> None:
    """One JSON document on stdout."""
    sys.stdout.write(json.dumps(to_builtins(value), ensure_ascii=False, indent=2) + "\n")
    sys.stdout.flush()


def report(value: Any, text: str, *, json_output: bool) -> None:
    """A command's outcome: `value` as JSON for scripts, or `text` (rich markup) for people."""
    if json_output:
        emit_json(value)
    else:
        console.print(text)


def fail(
    message: str, *, json_output: bool, code: str = "error", status: int | None = None
) -> NoReturn:
    """Report an error on stderr and exit 1."""
    if json_output:
        error: dict[str, Any] = {"code": code, "message": message}
        if status is not None:
            error["status"] = status
        sys.stderr.write(json.dumps({"error": error}, ensure_ascii=False) + "\n")
    else:
        stderr.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


_SIGN_IN_AGAIN = frozenset({"invalid_token", "token_expired", "not_authenticated"})


def id_table(*headers: str, id_header: str = "id", title: str | None = None) -> Table:
    """A table whose first column, an id, is never cut short (ids are what people copy into the
    next command), then `headers`."""
    table = Table(title=title)
    table.add_column(id_header, no_wrap=True, min_width=26)
    for header in headers:
        table.add_column(header)
    return table


@contextlib.contextmanager
def errors_handled(json_output: bool) -> Iterator[None]:
    """Turn the errors a command can meet into a clean stderr message and exit status 1."""
    try:
        yield
    except ApiError as exc:
        message = exc.message
        if exc.code in _SIGN_IN_AGAIN and not json_output:
            message += " (run `ragstack login URL` to sign in again)"
        fail(message, json_output=json_output, code=exc.code, status=exc.status or None)
    except CliError as exc:
        fail(exc.message, json_output=json_output, code=exc.code, status=exc.status)
    except ConfigError as exc:
        fail(str(exc), json_output=json_output, code="config")
    except KeyboardInterrupt:
        fail("interrupted", json_output=json_output, code="interrupted")


def logged_in() -> Credentials | None:
    """The saved (or environment) credentials with a token, if any."""
    credentials = load_credentials()
    return credentials if credentials is not None and credentials.token else None


def open_client() -> Client:
    """A client for the logged-in server; `CliError` when nobody is logged in."""
    credentials = load_credentials()
    if credentials is None:
        raise CliError(
            "not logged in: run `ragstack login URL` (or set RAGSTACK_URL and RAGSTACK_TOKEN)",
            code="not_logged_in",
        )
    if not credentials.token:
        raise CliError(
            f"no token for {credentials.url}: run `ragstack login {credentials.url}` "
            "(or set RAGSTACK_TOKEN)",
            code="not_logged_in",
        )
    return Client(credentials.url, credentials.token)
