"""`ragstack history`, `ragstack verify`, `ragstack replay`, `ragstack diff`: audit a chapter.

Over HTTP when logged in; against a local data directory with `--data DIR` (or when not logged
in), reading the logs from NATS directly (client/local.py). Over HTTP, `verify` does not take
the server's word: it fetches the stored payloads and hashes and recomputes the chain here.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from client.cli_archive import check_archive
from client.cli_books import resolve_chapter
from client.cli_common import (
    CliError,
    JsonOpt,
    console,
    emit_json,
    errors_handled,
    id_table,
    logged_in,
    open_client,
    to_builtins,
)
from client.models import ChapterState, HistoryEntry
from client.models_history import ChapterDiff

__all__ = ["parse_time", "register"]

DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data", help="Read the logs of this local data directory instead of asking the server."
    ),
]


def _local(data: Path | None) -> bool:
    return data is not None or logged_in() is None


def parse_time(text: str) -> int:
    """Unix ms from an ISO 8601 time (`2025-03-01T12:00`, `…Z`, a date) or from unix ms."""
    if text.isdigit():
        return int(text)
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise CliError(
            f"--at {text!r}: give an ISO 8601 time (2025-03-01T12:00:00Z) or unix milliseconds",
            code="invalid_time",
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()  # a time without a zone is the local time
    return int(moment.timestamp() * 1000)


def _time(ms: int | None) -> str:
    if ms is None:
        return ""
    return dt.datetime.fromtimestamp(ms / 1000).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def history(
    chapter: Annotated[str, typer.Argument(help="Chapter id (or title, over HTTP).")],
    after: Annotated[int, typer.Option(help="Start after this revision.", min=0)] = 0,
    limit: Annotated[int | None, typer.Option(help="At most this many events.", min=1)] = None,
    data: DataOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """A chapter's events: revision, time, actor, type and what happened."""
    with errors_handled(json_output):
        if _local(data):
            from client.local import local_history

            entries = local_history(data, chapter, after=after, limit=limit)
        else:
            with open_client() as client:
                chapter = resolve_chapter(client, chapter)
                entries = list(client.iter_history(chapter, after=after, limit=limit))
        if json_output:
            emit_json({"chapter": chapter, "history": entries})
            return
        _print_history(entries)


def _print_history(entries: list[HistoryEntry]) -> None:
    if not entries:
        console.print("No events.")
        return
    table = Table("rev", "time", "actor", "event", "what")
    for e in entries:
        table.add_row(str(e.rev), _time(e.at_ms), escape(e.actor), e.type, escape(e.summary))
    console.print(table)


def verify(
    chapter: Annotated[str | None, typer.Argument(help="Chapter id (or title, over HTTP).")] = None,
    archive: Annotated[
        Path | None,
        typer.Option("--archive", help="Verify this archive offline instead (no server)."),
    ] = None,
    data: DataOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Recompute a chapter's hash chain and check its signed heads; name the first bad revision.
    With --archive FILE, check an exported archive offline. Exit 1 if it is broken."""
    if archive is not None:
        if not check_archive(archive, json_output=json_output):
            raise typer.Exit(1)
        return
    with errors_handled(json_output):
        if chapter is None:
            raise CliError("give a CHAPTER, or --archive FILE", code="usage")
        if _local(data):
            from client.local import local_verify

            result = local_verify(data, chapter)
        else:
            with open_client() as client:
                chapter = resolve_chapter(client, chapter)
                # From the stored bytes, here: not the server's word for it.
                result = client.verify_here(chapter)
        if json_output:
            emit_json({"chapter": chapter, **to_builtins(result)})
        elif result.ok:
            console.print(
                f"[green]✓[/] {result.events} events verify; head rev {result.head.rev} "
                f"hash {result.head.hash}; {result.signed} signed heads verify"
            )
        else:
            console.print(
                f"[bold red]✗ rev {result.first_bad_rev} does not verify:[/] "
                f"{escape(result.reason or '')}\n"
                f"  the first {result.events} events verify (through rev {result.head.rev}, "
                f"hash {result.head.hash})"
            )
    if not result.ok:
        raise typer.Exit(1)


def replay(
    chapter: Annotated[str, typer.Argument(help="Chapter id (or title, over HTTP).")],
    rev: Annotated[int | None, typer.Option(help="The chapter as of this revision.", min=0)] = None,
    at: Annotated[
        str | None,
        typer.Option(
            help="The chapter as of this time: ISO 8601 (no zone: local time) or unix ms."
        ),
    ] = None,
    data: DataOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """The chapter as it was at a revision or a time: title, sources, threads, shares."""
    with errors_handled(json_output):
        if (rev is None) == (at is None):
            raise CliError("give exactly one of --rev N and --at TIME", code="usage")
        at_ms = parse_time(at) if at is not None else None
        if _local(data):
            from client.local import local_replay

            state = local_replay(data, chapter, rev=rev, at=at_ms)
        else:
            with open_client() as client:
                state = client.state(
                    resolve_chapter(client, chapter),
                    rev=rev,
                    at=at_ms,
                    include_removed=True,
                    messages=True,
                )
        if json_output:
            emit_json(state)
            return
        _print_state(state)


def _print_state(state: ChapterState) -> None:
    when = f" ({_time(state.at)})" if state.at else ""
    console.print(
        f"[bold]{escape(state.title)}[/] at rev {state.rev}{when}\n  head hash {state.hash}"
    )
    if state.sources:
        table = id_table("name", "status", "tags", "rev", id_header="source")
        for s in state.sources:
            status = s.status + (f": {s.reason}" if s.reason else "")
            table.add_row(
                s.id, escape(s.name), escape(status), escape(", ".join(s.tags)), str(s.rev)
            )
        console.print(table)
    else:
        console.print("  no sources")
    console.print(f"  {len(state.threads)} thread(s), {len(state.messages or [])} message(s)")
    for share in state.shares:
        console.print(f"  shared with {escape(share.grantee)} ({share.mode})")


def diff(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    from_rev: Annotated[int, typer.Argument(help="The earlier revision (0: empty).", min=0)],
    to_rev: Annotated[
        int | None, typer.Argument(help="The later revision (default: the head).", min=0)
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """What changed between two revisions: sources added, removed, retagged and edited (a text
    diff), the title, and the messages posted (over HTTP)."""
    with errors_handled(json_output):
        with open_client() as client:
            chapter = resolve_chapter(client, chapter)
            changes = client.diff(chapter, from_rev, to_rev)
        if json_output:
            emit_json(changes)
            return
        _print_diff(changes)


def _print_diff(d: ChapterDiff) -> None:
    console.print(
        f"[bold]rev {d.from_rev} → rev {d.to_rev}[/]  ({d.from_hash[:12]}… → {d.to_hash[:12]}…)"
    )
    if d.renamed:
        console.print(f"  renamed: {escape(d.renamed.old)!r} → {escape(d.renamed.new)!r}")
    for s in d.sources_added:
        console.print(
            f"  [green]+ added[/]   {escape(s.name)} ({s.id}) {escape(', '.join(s.tags))}"
        )
    for s in d.sources_removed:
        console.print(f"  [red]- removed[/] {escape(s.name)} ({s.id})")
    for r in d.sources_retagged:
        old, new = ", ".join(r.old) or "(none)", ", ".join(r.new) or "(none)"
        console.print(f"  retagged  {escape(r.name)}: {escape(old)} → {escape(new)}")
    for e in d.sources_edited:
        console.print(
            f"  edited    {escape(e.name)}: +{e.diff.added_lines} -{e.diff.removed_lines} lines"
        )
        if e.diff.unified:
            console.print(escape(e.diff.unified), highlight=False)
        if e.diff.note:
            console.print(f"  [dim]({escape(e.diff.note)})[/]")
    for m in d.messages_added:
        console.print(f"  {m.role:9} rev {m.rev} in {m.thread}: {escape(m.snippet)}")
    if d.messages_more:
        console.print(f"  … and {d.messages_more} more message(s)")
    nothing = not (
        d.renamed or d.sources_added or d.sources_removed or d.sources_retagged
        or d.sources_edited or d.messages_added
    )  # fmt: skip
    if nothing:
        console.print("  no changes")


def register(app: typer.Typer) -> None:
    """Add these commands to the `ragstack` app."""
    app.command()(history)
    app.command()(verify)
    app.command()(replay)
    app.command()(diff)
