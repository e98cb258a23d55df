"""`ragstack export`, `ragstack import`, and `ragstack verify --archive`: chapter archives.

    ragstack export CHAPTER [-o FILE]          the chapter at its head, as a verifiable tar
    ragstack import FILE [--book B] [--title T]  a new chapter of your book, forked from it
    ragstack verify --archive FILE             offline: no server, no account

An archive's layout and how to verify it with one's own code are docs/log-format.md's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.markup import escape

from client.cli_books import resolve_book, resolve_chapter
from client.cli_common import CliError, JsonOpt, console, emit_json, errors_handled, open_client
from client.sync import Client
from events.archive_check import ArchiveReport, describe, verify_archive_file

__all__ = ["check_archive", "register"]


def export(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="The file to write (default: <chapter>-rev<N>.tar)."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Write a chapter's verifiable archive: its events as stored, signed heads, the book's
    keys and every blob the events name."""
    with errors_handled(json_output), open_client() as client:
        chapter = resolve_chapter(client, chapter)
        target = output or Path(f"{chapter}.tar")
        written = client.export_chapter(chapter, target)
        report = verify_archive_file(written)  # what was received, checked here
        if output is None:  # name it after the rev it holds
            named = written.with_name(f"{chapter}-rev{report.head_rev}.tar")
            written = written.replace(named)
        if json_output:
            emit_json({"chapter": chapter, "file": str(written), **_plain(report)})
        elif report.ok:
            console.print(
                f"[green]✓[/] wrote {escape(str(written))}: {report.events} events, "
                f"{report.signed} signed heads, {report.blobs} blobs (head {report.head[:16]}…)"
            )
        else:
            raise CliError(
                f"the server sent an archive that does not verify: {describe(report)}",
                code="archive_rejected",
            )


def _book(client: Client, book: str | None) -> str:
    if book is not None:
        return resolve_book(client, book).id
    books = client.books()
    if len(books) != 1:
        raise CliError("you have several books: say which with --book", code="usage")
    return books[0].id


def import_(
    file: Annotated[Path, typer.Argument(help="The archive (a tar from `ragstack export`).")],
    book: Annotated[
        str | None, typer.Option(help="Book id or name (default: your only book).")
    ] = None,
    title: Annotated[
        str | None, typer.Option(help="Title of the new chapter (default: the archived one's).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Import an archive as a new chapter of your book: verified whole first (nothing is
    imported from a bad one), then forked from its head with its sources and threads."""
    with errors_handled(json_output):
        if not file.is_file():
            raise CliError(f"no file {str(file)!r}", code="not_found")
        with open_client() as client:
            chapter = client.import_archive(_book(client, book), file, title=title)
        if json_output:
            emit_json(chapter)
        else:
            console.print(f"Imported as chapter [bold]{escape(chapter.title)}[/] ({chapter.id})")


def _plain(report: ArchiveReport) -> dict[str, object]:
    return msgspec.to_builtins(report)


def check_archive(file: Path, *, json_output: bool) -> bool:
    """`ragstack verify --archive FILE`: print the verdict; whether the archive verifies."""
    with errors_handled(json_output):
        if not file.is_file():
            raise CliError(f"no file {str(file)!r}", code="not_found")
        report = verify_archive_file(file)
        if json_output:
            emit_json({"archive": str(file), **_plain(report)})
        elif report.ok:
            console.print(f"[green]✓[/] {escape(describe(report))}")
        else:
            console.print(f"[bold red]✗ {escape(describe(report))}[/]")
            if report.events:
                console.print(
                    f"  the first {report.events} events verify (through rev {report.head_rev}, "
                    f"hash {report.head})"
                )
    return report.ok


def register(app: typer.Typer) -> None:
    """Add these commands to the `ragstack` app (`verify --archive` is cli_audit's verify)."""
    app.command()(export)
    app.command("import")(import_)
