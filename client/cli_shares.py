"""`ragstack share`, `ragstack shares …`, `ragstack follow` and `ragstack replica …`.

    ragstack share CHAPTER --mode copy|proxied|direct --to EMAIL [--allow add,edit] [--scope …]
    ragstack shares list CHAPTER | revoke CHAPTER SHARE | accept TOKEN [--book B] [--from URL]
    ragstack follow TOKEN [--from URL] [--dir DIR] [--once]
    ragstack replica sources | search QUERY | history   [--dir DIR]

The owner shares (the token is printed once); the guest either accepts the share into a book
on their own server (`shares accept`) or follows it into a local replica (`follow`), which
answers `replica …` offline, without an account and without a model.

It is one module (about 410 lines): the owner's, the guest's and the replica's commands share
their argument parsing and printing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer
from rich.markup import escape
from rich.table import Table

from client.cli_audit import parse_time
from client.cli_books import resolve_book, resolve_chapter
from client.cli_common import (
    CliError,
    JsonOpt,
    console,
    emit_json,
    errors_handled,
    id_table,
    logged_in,
    open_client,
    report,
    stderr,
    to_builtins,
)
from client.models_shares import ShareConnection
from client.replica_rows import FollowError, HistoryRow, ReplicaError, TickRow

if TYPE_CHECKING:
    from client.follow import Synced
    from client.replica import Replica

__all__ = ["register", "replica_root", "shares_app"]

T = TypeVar("T")

MODES = ("copy", "proxied", "direct")
PERMISSIONS = {
    "add": "add",
    "remove": "remove",
    "edit": "edit",
    "prompt": "prompt_passthrough",
    "prompt_passthrough": "prompt_passthrough",
}
SCOPES = ("sources", "notes", "threads")

shares_app = typer.Typer(help="A chapter's shares: list, revoke, accept.", no_args_is_help=True)
replica_app = typer.Typer(
    help="Ask a local replica (made by `ragstack follow`), offline.", no_args_is_help=True
)

DirOpt = Annotated[
    Path | None,
    typer.Option("--dir", help="The replica's folder (default: the only one under the data home)."),
]


def replica_root() -> Path:
    """Where replicas live unless `--dir` says: `$XDG_DATA_HOME/ragstack/replicas`."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "ragstack" / "replicas"


def _names(text: str | None, allowed: dict[str, str] | tuple[str, ...], flag: str) -> list[str]:
    if not text:
        return []
    names = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if name not in allowed:
            known = ", ".join(allowed)
            raise CliError(f"{flag} {name!r}: choose among {known}", code="invalid_argument")
        names.append(allowed[name] if isinstance(allowed, dict) else name)
    return list(dict.fromkeys(names))


def _expires(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return parse_time(text)
    except CliError:
        raise CliError(
            f"--expires {text!r}: give an ISO 8601 time (2030-01-01T00:00:00Z) or unix ms",
            code="invalid_time",
        ) from None


@contextlib.contextmanager
def _replica_errors() -> Iterator[None]:
    try:
        yield
    except (ReplicaError, FollowError) as exc:
        raise CliError(str(exc), code=getattr(exc, "code", "replica_refused")) from None


# --- the owner's side ---


def share(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    mode: Annotated[str, typer.Option(help="copy (a snapshot), proxied (live, per tick), direct.")],
    to: Annotated[str, typer.Option("--to", help="The guest's e-mail address.")],
    allow: Annotated[
        str | None, typer.Option(help="What the guest may do: add,remove,edit,prompt.")
    ] = None,
    scope: Annotated[
        str | None,
        typer.Option(help="What is shared: sources,notes,threads (default sources,notes)."),
    ] = None,
    expires: Annotated[
        str | None, typer.Option(help="When it ends: ISO 8601 time or unix ms (default: never).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Share a chapter; prints the share's token once, and how the guest uses it."""
    with errors_handled(json_output), open_client() as client:
        if mode not in MODES:
            raise CliError(f"--mode {mode!r}: choose copy, proxied or direct", code="invalid_mode")
        permissions = _names(allow, PERMISSIONS, "--allow")
        scopes = _names(scope, SCOPES, "--scope") or None
        granted = client.share(
            resolve_chapter(client, chapter), mode=mode, to=to, permissions=permissions,
            scope=scopes, expires_at=_expires(expires),
        )  # fmt: skip
        if json_output:
            emit_json({**to_builtins(granted), "server": client.url})
            return
        console.print(
            f"Shared chapter {granted.chapter} with [bold]{escape(granted.grantee)}[/] "
            f"({granted.mode}; share {granted.id})"
        )
        console.print("Token (shown this once; give it to the guest, keep it secret):")
        console.print(f"  [bold]{escape(granted.token)}[/]")
        if granted.mode != "copy":
            console.print(f"Follow it:  ragstack follow TOKEN --from {escape(client.url)}")
        console.print(
            f"Or accept it on the guest's server:  ragstack shares accept TOKEN --from "
            f"{escape(client.url)}"
        )


@shares_app.command("list")
def shares_list(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    json_output: JsonOpt = False,
) -> None:
    """A chapter's shares in force (never their tokens)."""
    with errors_handled(json_output), open_client() as client:
        found = client.shares(resolve_chapter(client, chapter))
        if json_output:
            emit_json({"shares": found})
            return
        if not found:
            console.print("No shares in force")
            return
        table = id_table("mode", "guest", "may", "scope", "expires")
        for s in found:
            ends = "" if s.expires_at is None else _time(s.expires_at)
            table.add_row(
                s.id, s.mode, escape(s.grantee), ",".join(s.permissions), ",".join(s.scope), ends
            )
        console.print(table)


@shares_app.command("revoke")
def shares_revoke(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    share_id: Annotated[str, typer.Argument(metavar="SHARE", help="The share's id.")],
    json_output: JsonOpt = False,
) -> None:
    """End a share at once: its token opens nothing from now on."""
    with errors_handled(json_output), open_client() as client:
        chapter_id = resolve_chapter(client, chapter)
        client.revoke_share(chapter_id, share_id)
        report(
            {"revoked": share_id, "chapter": chapter_id},
            f"Revoked share {share_id}",
            json_output=json_output,
        )


@shares_app.command("accept")
def shares_accept(
    token: Annotated[str, typer.Argument(help="The share's token.")],
    book: Annotated[
        str | None, typer.Option(help="Your book to put it in (default: your first).")
    ] = None,
    from_url: Annotated[
        str | None, typer.Option("--from", help="The owner's server, when it is not yours.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Accept a share into one of your books: a copy becomes your chapter, a live share a
    mirror chapter that follows the owner's."""
    with errors_handled(json_output), open_client() as client:
        book_id = resolve_book(client, book).id if book else None
        chapter = client.accept_share(token, book=book_id, from_url=from_url)
        kind = "a copy" if chapter.forked_from else "a mirror"
        report(
            chapter,
            f"Accepted as {kind}: chapter [bold]{escape(chapter.title)}[/] ({chapter.id}) "
            f"in book {chapter.book}",
            json_output=json_output,
        )


# --- the guest's replica ---


def _progress_line(synced: Synced) -> str:
    if synced.offline:
        return f"offline ({synced.offline}); retrying — at rev {synced.rev}"
    head = synced.head[:12] + "…" if synced.head else "-"
    return (
        f"{dt.datetime.now():%H:%M:%S} rev {synced.rev} head {head} · {synced.sources} sources"
        + (f" · +{synced.applied} events" if synced.applied else "")
    )


def follow_command(
    token: Annotated[str, typer.Argument(help="The share's token.")],
    from_url: Annotated[
        str | None,
        typer.Option("--from", help="The owner's server (default: the one you are logged in to)."),
    ] = None,
    directory: Annotated[
        Path | None,
        typer.Option(
            "--dir", help="The replica's folder (default: one per share under the data home)."
        ),
    ] = None,
    once: Annotated[bool, typer.Option("--once", help="Catch up once and exit.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Follow a live share into a local replica: verified, resumable, searchable offline."""
    with errors_handled(json_output), _replica_errors():
        credentials = logged_in()
        url = from_url or (credentials.url if credentials is not None else None)
        if not url:
            raise CliError("give the owner's server with --from URL", code="invalid_argument")
        url = url.rstrip("/")

        def shown(synced: Synced) -> None:
            if once:
                return
            if json_output:
                sys.stdout.write(json.dumps(to_builtins(synced)) + "\n")
                sys.stdout.flush()
            else:
                stderr.print(escape(_progress_line(synced)))

        chosen: list[Path] = []

        def where(conn: ShareConnection) -> Path:
            chosen.append(directory or replica_root() / conn.share)  # one folder per share
            return chosen[0]

        from client.follow import follow  # the replica's fold loads only for these commands

        try:
            synced = asyncio.run(follow(url, token, where, once=once, progress=shown))
        except KeyboardInterrupt:
            if not json_output:
                stderr.print("stopped; `ragstack follow` again resumes where it stood")
            raise typer.Exit(0) from None
        folder = str(chosen[0]) if chosen else ""
        report(
            {**to_builtins(synced), "dir": folder},
            f"Replica of [bold]{escape(synced.title)}[/] at rev {synced.rev} "
            f"({synced.sources} sources) in {escape(folder)}",
            json_output=json_output,
        )


DB_NAME = "replica.db"
"""client/replica.py's file name (not imported from there: the CLI loads without the fold)."""


def _replica_dir(directory: Path | None) -> Path:
    if directory is not None:
        if not (directory / DB_NAME).exists():
            raise CliError(f"no replica in {directory} (`ragstack follow TOKEN --dir {directory}`)",
                           code="not_found")  # fmt: skip
        return directory
    root = replica_root()
    found = sorted(p.parent for p in root.glob(f"*/{DB_NAME}")) if root.is_dir() else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise CliError("no replica yet: `ragstack follow TOKEN` makes one", code="not_found")
    listed = ", ".join(str(p) for p in found)
    raise CliError(f"several replicas ({listed}): choose one with --dir", code="ambiguous")


def _with_replica(
    directory: Path | None, work: Callable[[Replica], Awaitable[T]]
) -> tuple[Replica, T]:
    """`work` run on the replica in `directory` (closed after; its `meta` stays readable)."""

    from client.replica import Replica

    async def run() -> tuple[Replica, T]:
        async with await Replica.open(_replica_dir(directory)) as replica:
            return replica, await work(replica)

    return asyncio.run(run())


def _time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


@replica_app.command("sources")
def replica_sources(
    directory: DirOpt = None,
    removed: Annotated[bool, typer.Option("--removed", help="Removed ones too.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """The replica's sources, as of the last sync."""
    with errors_handled(json_output), _replica_errors():
        replica, found = _with_replica(directory, lambda r: r.sources(removed=removed))
        if json_output:
            emit_json({"chapter": replica.chapter, "rev": replica.rev, "sources": found})
            return
        table = id_table(
            "name",
            "status",
            "tags",
            title=f"{escape(replica.meta.get('title', ''))} at rev {replica.rev}",
        )
        for s in found:
            table.add_row(s.id, escape(s.name), s.status, escape(", ".join(s.tags)))
        console.print(table)


@replica_app.command("search")
def replica_search(
    query: Annotated[str, typer.Argument(help="Words to find (all of them).")],
    directory: DirOpt = None,
    k: Annotated[int, typer.Option("-k", help="How many sources.", min=1)] = 10,
    json_output: JsonOpt = False,
) -> None:
    """Search the replica's texts (full-text, offline, no model)."""
    with errors_handled(json_output), _replica_errors():
        _, hits = _with_replica(directory, lambda r: r.search(query, limit=k))
        if json_output:
            emit_json({"query": query, "hits": hits})
            return
        if not hits:
            console.print("Nothing found")
        for hit in hits:
            console.print(f"[bold]{escape(hit.name)}[/] ({hit.source})")
            console.print(f"  {escape(' '.join(hit.snippet.split()))}")


@replica_app.command("history")
def replica_history(
    directory: DirOpt = None,
    limit: Annotated[int | None, typer.Option(help="Only the last N events.", min=1)] = None,
    json_output: JsonOpt = False,
) -> None:
    """What the replica synced: the ticks (proxied) and the events applied."""
    with errors_handled(json_output), _replica_errors():

        async def both(replica: Replica) -> tuple[list[TickRow], list[HistoryRow]]:
            return await replica.ticks(), await replica.history(limit=limit)

        replica, (ticks, events) = _with_replica(directory, both)
        if json_output:
            emit_json({"chapter": replica.chapter, "rev": replica.rev, "head": replica.head,
                       "ticks": ticks, "events": events})  # fmt: skip
            return
        for tick in ticks:
            kind = "snapshot" if tick.snapshot else f"after {tick.after}"
            console.print(
                f"{_time(tick.at)}  tick → rev {tick.rev} ({kind}, {tick.events} events) "
                f"head {tick.head[:12]}…"
            )
        table = Table("rev", "when", "event", "what")
        for e in events:
            table.add_row(str(e.rev), _time(e.at), e.type, escape(e.summary))
        console.print(table)


def register(app: typer.Typer) -> None:
    """Add these commands to the `ragstack` app."""
    app.command()(share)
    app.add_typer(shares_app, name="shares")
    app.command("follow")(follow_command)
    app.add_typer(replica_app, name="replica")
