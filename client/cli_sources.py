"""`ragstack add`, `ragstack search`, `ragstack ask`: filling a chapter and asking it, over HTTP."""

from __future__ import annotations

import os
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from client.cli_books import resolve_chapter
from client.cli_common import (
    CliError,
    JsonOpt,
    console,
    emit_json,
    errors_handled,
    id_table,
    open_client,
    stderr,
)
from client.errors import ApiError
from client.models import Answer, Citation, SearchHit, Source, Span
from client.sync import Client

__all__ = ["collect_files", "register"]

FATAL_STATUSES = frozenset({0, 401, 403, 404})
"""Upload errors that would repeat for every file (no server, no access, no chapter): stop."""

Tags = Annotated[list[str] | None, typer.Option("--tag", "-t", help="A tag (repeat for more).")]


def collect_files(paths: list[Path]) -> list[Path]:
    """The files to upload: each file given, and every file under each folder given (recursively,
    skipping hidden files and folders, not following links to folders), in a stable order."""
    files: list[Path] = []
    for path in paths:
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(Path(root) / n for n in names if not n.startswith("."))
            files.extend(sorted(f for f in found if f.is_file()))
        elif path.exists():
            raise CliError(f"{path} is neither a file nor a folder", code="invalid_path")
        else:
            raise CliError(f"{path} does not exist", code="not_found")
    return files


def _where(span: Span) -> str:
    parts = []
    if span.page is not None:
        parts.append(f"p. {span.page}")
    if span.heading:
        parts.append(f"“{span.heading}”")
    return ", ".join(parts)


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _upload_all(
    client: Client, chapter: str, files: list[Path], tags: list[str] | None, show: bool
) -> tuple[list[Source], list[dict[str, object]]]:
    added: list[Source] = []
    errors: list[dict[str, object]] = []
    total = sum(f.stat().st_size for f in files)
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr,
        disable=not show,
        transient=False,
    )
    with progress:
        task = progress.add_task("uploading", total=total)
        done = 0
        for path in files:
            progress.update(task, description=escape(_short(path.name)))

            def moved(sent: int, _size: int, base: int = done) -> None:
                progress.update(task, completed=base + sent)

            try:
                added.append(client.upload(chapter, path, tags=tags, progress=moved))
            except ApiError as exc:
                if exc.status in FATAL_STATUSES:
                    raise
                errors.append(
                    {
                        "path": str(path),
                        "code": exc.code,
                        "message": exc.message,
                        "status": exc.status,
                    }
                )
                if show:
                    progress.console.print(f"[red]✗[/] {escape(str(path))}: {escape(exc.message)}")
            done += path.stat().st_size
            progress.update(task, completed=done)
        progress.update(task, description="uploaded")
    return added, errors


def _short(name: str, width: int = 30) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"


def add(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders to upload.")] = None,
    url: Annotated[str | None, typer.Option("--url", help="A web page to add instead.")] = None,
    tag: Tags = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Wait until every source is extracted or rejected.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Upload files or folders (or a web page with --url) to a chapter."""
    with errors_handled(json_output):
        files = collect_files(paths or [])
        if not files and url is None:
            raise CliError(
                "nothing to add: give files or folders, or --url URL", code="nothing_to_add"
            )
        with open_client() as client:
            chapter_id = resolve_chapter(client, chapter)
            added, errors = _upload_all(client, chapter_id, files, tag, show=not json_output)
            if url is not None:
                try:
                    added.append(client.add_url(chapter_id, url, tags=tag))
                except ApiError as exc:
                    if exc.status in FATAL_STATUSES:
                        raise
                    errors.append(
                        {"url": url, "code": exc.code, "message": exc.message, "status": exc.status}
                    )
            if wait and added:
                with (
                    console.status("extracting…", spinner="dots")
                    if not json_output
                    else nullcontext()
                ):
                    added = [client.wait_for_source(chapter_id, s.id) for s in added]
        if json_output:
            emit_json({"chapter": chapter_id, "sources": added, "errors": errors})
        else:
            _print_sources(added)
            if errors:
                stderr.print(f"[red]{len(errors)} could not be added[/]")
        if errors:
            raise typer.Exit(1)


def _print_sources(sources: list[Source]) -> None:
    if not sources:
        return
    table = id_table("name", "size", "status", "tags")
    colours = {"extracted": "green", "rejected": "red", "pending": "yellow", "removed": "dim"}
    for s in sources:
        status = f"[{colours.get(s.status, 'white')}]{s.status}[/]"
        if s.reason:
            status += f": {escape(s.reason)}"
        table.add_row(s.id, escape(s.name), f"{s.size:,}", status, escape(", ".join(s.tags)))
    console.print(table)


def search(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    query: Annotated[str, typer.Argument(help="What to look for.")],
    k: Annotated[int, typer.Option("-k", help="How many passages.", min=1, max=50)] = 8,
    tag: Tags = None,
    json_output: JsonOpt = False,
) -> None:
    """The passages of a chapter nearest to QUERY."""
    with errors_handled(json_output), open_client() as client:
        hits = client.search(resolve_chapter(client, chapter), query, k=k, tags=tag)
        if json_output:
            emit_json({"hits": hits})
            return
        if not hits:
            console.print("No passages found.")
        for i, hit in enumerate(hits, 1):
            _print_hit(i, hit)


def _print_hit(i: int, hit: SearchHit) -> None:
    where = _where(hit.span)
    console.print(
        f"[bold]{i}.[/] [cyan]{escape(hit.source_name or hit.source)}[/]"
        + (f"  {escape(where)}" if where else "")
        + f"  [dim]score {hit.score:.3f}[/]"
    )
    console.print(f"   {escape(_snippet(hit.text))}\n")


def ask(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    question: Annotated[str, typer.Argument(help="Your question.")],
    thread: Annotated[str | None, typer.Option(help="Continue this thread.")] = None,
    json_output: JsonOpt = False,
) -> None:
    """Ask a chapter: an answer citing its sources (streamed as it is written)."""
    with errors_handled(json_output), open_client() as client:
        chapter_id = resolve_chapter(client, chapter)
        if json_output:
            emit_json(client.ask(chapter_id, question, thread=thread))
            return
        answer: Answer | None = None
        streamed = False
        for item in client.ask_stream(chapter_id, question, thread=thread):
            if isinstance(item, str):
                sys.stdout.write(item)
                sys.stdout.flush()
                streamed = True
            else:
                answer = item
        if answer is None:
            raise CliError(
                "the server ended the answer without sending it whole", code="incomplete"
            )
        if not streamed:
            console.print(escape(answer.text), end="")
        console.print()
        _print_citations(answer.citations)
        console.print(
            f"[dim]{answer.model or 'unknown model'} · rev {answer.rev} · answer {answer.id}[/]"
        )


def _print_citations(citations: list[Citation]) -> None:
    if not citations:
        return
    console.print()
    for i, c in enumerate(citations, 1):
        where = _where(c.span)
        console.print(
            f"[bold][{i}][/] [cyan]{escape(c.source_name or c.source)}[/]"
            + (f", {escape(where)}" if where else "")
            + (f" — {escape(_snippet(c.text, 160))}" if c.text else "")
        )


def register(app: typer.Typer) -> None:
    """Add these commands to the `ragstack` app."""
    app.command()(add)
    app.command()(search)
    app.command()(ask)
