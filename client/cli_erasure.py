"""Erasure on the command line (docs/log-format.md, "Erasure"):

ragstack me export [-o FILE]            all of your data, as JSON
ragstack me erase --yes                 erase your account and everything that is yours
ragstack sources erase CHAPTER SOURCE   erase one source (the book's owner or admins)
ragstack migrate CHAPTER                re-fork an old chapter into the sealed format
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from client.cli_books import resolve_chapter
from client.cli_common import CliError, JsonOpt, console, emit_json, errors_handled, open_client

__all__ = ["register"]

me_app = typer.Typer(help="Your own data: export it, erase it.", no_args_is_help=True)
sources_app = typer.Typer(help="Sources: erase one.", no_args_is_help=True)


@me_app.command("export")
def export_me(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file (default: stdout).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Everything the server holds that is yours, as JSON."""
    with errors_handled(json_output), open_client() as client:
        data = client.export_me()
        text = json.dumps(data, indent=2, ensure_ascii=False)
        if output is None:
            typer.echo(text)
        else:
            output.write_text(text + "\n", encoding="utf-8")
            if json_output:
                emit_json({"file": str(output)})
            else:
                console.print(f"wrote {escape(str(output))}")


@me_app.command("erase")
def erase_me(
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Erase your account, your chapters, your messages everywhere and the books only you are in."""
    with errors_handled(json_output):
        if not yes:
            raise CliError("erasing your account cannot be undone: add --yes", code="usage")
        with open_client() as client:
            done = client.erase_me()
        if json_output:
            emit_json(done)
        else:
            console.print(
                f"Erased: {len(done['chapters'])} chapters touched, "
                f"{done['blobs_deleted']} blobs deleted, {len(done['books'])} books gone."
            )


@sources_app.command("erase")
def erase_source(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    source: Annotated[str, typer.Argument(help="Source id.")],
    json_output: JsonOpt = False,
) -> None:
    """Erase a source: its bytes, texts, name and chunks (the log records that it happened)."""
    with errors_handled(json_output), open_client() as client:
        done = client.erase_source(resolve_chapter(client, chapter), source)
        if json_output:
            emit_json(done)
        else:
            console.print(f"Erased source {escape(source)} ({done['blobs_deleted']} blobs deleted)")


def migrate(
    chapter: Annotated[str, typer.Argument(help="Chapter id or title.")],
    json_output: JsonOpt = False,
) -> None:
    """Re-fork a chapter written before sealing into a new chapter whose personal content can be
    erased; the old chapter stays as it was (delete it when the new one suits you)."""
    with errors_handled(json_output), open_client() as client:
        made = client.migrate_chapter(resolve_chapter(client, chapter))
        if json_output:
            emit_json(made)
        else:
            console.print(f"Migrated into chapter {escape(made['id'])}")


def register(app: typer.Typer) -> None:
    """Add these commands to the `ragstack` app."""
    app.add_typer(me_app, name="me")
    app.add_typer(sources_app, name="sources")
    app.command()(migrate)
