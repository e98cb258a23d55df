"""`ragstack sync` and `ragstack connector …`: keep a chapter in step with a remote library.

    ragstack sync CHAPTER [--connector ID] [--zotero-dir DIR | --obsidian-vault DIR] [--json]
    ragstack connector add CHAPTER --zotero-library users/123 [--api-key-env VAR] [--base-url URL]
    ragstack connector add CHAPTER --zotero-dir-path PATH     (a directory the server reads)
    ragstack connector add CHAPTER --obsidian-path PATH       (a vault the server reads)
    ragstack connector add CHAPTER --confluence-space KEY --base-url URL [--email E]
    ragstack connector add CHAPTER --notion
    ragstack connector connect CHAPTER --provider google|dropbox|microsoft [--library ID]
                                       [--reconnect CONNECTOR]
    ragstack connector list CHAPTER    ragstack connector show CHAPTER ID
    ragstack connector remove CHAPTER ID [--remove-sources]

`sync --zotero-dir` (or `--obsidian-vault`) reads the folder here (client/local_library.py) and
pushes it to the chapter's connector for it (made on first use); without it, each connector the server reaches
itself (or the one `--connector` names) syncs on the server, with a progress bar either way.
An API key is read from the environment (default ZOTERO_API_KEY) or a prompt, never an argument,
so it stays out of shell history and process lists. `connect` signs in instead of taking a key:
with a user code where the provider offers a device flow (OneDrive), else with a link to open in
any browser (Google Drive, Dropbox); the tokens stay on the server.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import msgspec
import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from client.cli_books import resolve_chapter
from client.cli_common import (
    CliError,
    JsonOpt,
    console,
    emit_json,
    errors_handled,
    id_table,
    open_client,
    report,
    stderr,
)
from client.local_library import sync_obsidian_vault, sync_zotero_dir
from client.models_connectors import (
    ConnectorStatus,
    OAuthDeviceStarted,
    OAuthFlowStatus,
    OAuthStarted,
    SyncReport,
)
from client.sync import Client

__all__ = ["connector_app", "register"]

connector_app = typer.Typer(
    help=(
        "A chapter's connectors (Zotero, Confluence, Notion, Obsidian, Google Drive, Dropbox, "
        "OneDrive)."
    ),
    no_args_is_help=True,
)

Chapter = Annotated[str, typer.Argument(help="Chapter id or title.")]


def _summary(report_: SyncReport | None) -> str:
    if report_ is None:
        return "nothing done"
    parts = [f"{getattr(report_, n)} {n}" for n in
             ("added", "revised", "retagged", "described", "removed", "rejected")
             if getattr(report_, n)]  # fmt: skip
    text = ", ".join(parts) or "nothing changed"
    return f"{text} · {report_.appended} events appended · {report_.error_count} errors"


def _print_status(view: ConnectorStatus) -> None:
    colour = {"ok": "green", "failed": "red", "credential_rejected": "red"}.get(
        view.status, "yellow"
    )
    where = view.library or view.path or ("this machine" if view.pushed else "")
    console.print(f"[bold]{view.id}[/] {view.kind} {escape(where)}  [{colour}]{view.status}[/]")
    if view.last_error:
        console.print(f"  [red]{escape(view.last_error)}[/]")
    if view.report is not None:
        console.print(f"  {_summary(view.report)}")
        for error in view.report.errors[:10]:
            console.print(f"  [red]✗[/] {escape(error.ref)}: {escape(error.message)}")


def _pushed_connector(
    client: Client, chapter: str, connector: str | None, kind: str
) -> ConnectorStatus:
    """The chapter's connector of `kind` synced from this machine (made on first use)."""
    if connector is not None:
        found = client.connector(chapter, connector)
        if not found.pushed or found.kind != kind:
            raise CliError(f"connector {connector} is not a {kind} connector synced from this"
                           " machine", code="invalid_argument")  # fmt: skip
        return found
    for existing in client.connectors(chapter):
        if existing.pushed and existing.kind == kind:
            return existing
    return client.create_connector(chapter, kind=kind)


def sync(
    chapter: Chapter,
    connector: Annotated[str | None, typer.Option("--connector", help="Only this one.")] = None,
    zotero_dir: Annotated[
        Path | None, typer.Option("--zotero-dir", help="A Zotero data directory on this machine.")
    ] = None,
    obsidian_vault: Annotated[
        Path | None, typer.Option("--obsidian-vault", help="An Obsidian vault on this machine.")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Sync a chapter's connectors now, or a Zotero directory (--zotero-dir) or Obsidian vault
    (--obsidian-vault) on this machine."""
    with errors_handled(json_output), open_client() as client:
        chapter_id = resolve_chapter(client, chapter)
        progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=stderr, disable=json_output,
        )  # fmt: skip
        results: list[tuple[ConnectorStatus, SyncReport | None]] = []
        with progress:
            if zotero_dir is not None and obsidian_vault is not None:
                raise CliError("give --zotero-dir or --obsidian-vault, not both",
                               code="invalid_argument")  # fmt: skip
            local = zotero_dir or obsidian_vault
            if local is not None:
                if not local.expanduser().is_dir():
                    raise CliError(f"{local} is not a folder", code="not_found")
                kind, what, reader = (
                    ("zotero_dir", "Zotero library", sync_zotero_dir) if zotero_dir is not None
                    else ("obsidian", "Obsidian vault", sync_obsidian_vault)
                )  # fmt: skip
                target = _pushed_connector(client, chapter_id, connector, kind)
                task = progress.add_task(f"reading {what}", total=None)

                def moved(phase: str, done: int, total: int) -> None:
                    label = f"reading {what}" if phase == "read" else "syncing items"
                    progress.update(task, description=label, completed=done, total=total)

                results.append(client.run(reader(
                    client.aio, chapter_id, target, local.expanduser(), progress=moved,
                )))  # fmt: skip
            else:
                chosen = (
                    [client.connector(chapter_id, connector)] if connector is not None
                    else [c for c in client.connectors(chapter_id) if not c.pushed]
                )  # fmt: skip
                if not chosen:
                    raise CliError("this chapter has no connector the server syncs; add one"
                                   " (ragstack connector add) or use --zotero-dir or --obsidian-vault",
                                   code="nothing_to_sync")  # fmt: skip
                task = progress.add_task("syncing", total=len(chosen))
                for n, view in enumerate(chosen, start=1):
                    progress.update(task, description=f"syncing {view.id}")
                    done = client.sync_connector(chapter_id, view.id)
                    results.append((done, done.report))
                    progress.update(task, completed=n)
        if json_output:
            emit_json({"chapter": chapter_id,
                       "connectors": [{"connector": v, "report": r} for v, r in results]})  # fmt: skip
            return
        for view, totals in results:
            _print_status(_with_totals(view, totals))


def _with_totals(view: ConnectorStatus, totals: SyncReport | None) -> ConnectorStatus:
    return view if totals is None else msgspec.structs.replace(view, report=totals)


@connector_app.command("add")
def add(
    chapter: Chapter,
    zotero_library: Annotated[
        str | None, typer.Option("--zotero-library", help="users/<id> or groups/<id>.")
    ] = None,
    api_key_env: Annotated[
        str, typer.Option("--api-key-env", help="Environment variable holding the API key.")
    ] = "ZOTERO_API_KEY",
    base_url: Annotated[str | None, typer.Option("--base-url", help="The API's address.")] = None,
    zotero_dir_path: Annotated[
        str | None, typer.Option("--zotero-dir-path", help="A directory the server reads.")
    ] = None,
    obsidian_path: Annotated[
        str | None, typer.Option("--obsidian-path", help="An Obsidian vault the server reads.")
    ] = None,
    confluence_space: Annotated[
        str | None,
        typer.Option("--confluence-space", help="A Confluence space key (with --base-url)."),
    ] = None,
    email: Annotated[
        str | None, typer.Option("--email", help="Confluence Cloud: the token's account.")
    ] = None,
    notion: Annotated[
        bool, typer.Option("--notion", help="The pages shared with a Notion integration.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Configure a connector for a chapter (the key from --api-key-env, else a prompt)."""
    with errors_handled(json_output), open_client() as client:
        chapter_id = resolve_chapter(client, chapter)
        if zotero_library is not None or confluence_space is not None or notion:
            key = os.environ.get(api_key_env) or (
                "" if json_output else typer.prompt("API key", hide_input=True)
            )
            if not key:
                raise CliError(f"no API key: set {api_key_env}", code="invalid_argument")
            if notion:
                made = client.create_connector(chapter_id, kind="notion", api_key=key,
                                               base_url=base_url)  # fmt: skip
            elif confluence_space is not None:
                made = client.create_connector(chapter_id, kind="confluence", library=confluence_space,
                                               api_key=key, base_url=base_url, email=email)  # fmt: skip
            else:
                made = client.create_connector(chapter_id, kind="zotero", library=zotero_library,
                                               api_key=key, base_url=base_url)  # fmt: skip
        elif zotero_dir_path is not None:
            made = client.create_connector(chapter_id, kind="zotero_dir", path=zotero_dir_path)
        elif obsidian_path is not None:
            made = client.create_connector(chapter_id, kind="obsidian", path=obsidian_path)
        else:
            raise CliError("give --zotero-library, --confluence-space, --notion, --zotero-dir-path or"
                           " --obsidian-path (or run ragstack sync --zotero-dir DIR or"
                           " --obsidian-vault DIR for a folder on this machine)",
                           code="invalid_argument")  # fmt: skip
        report(made, f"connector {made.id} added", json_output=json_output)


@connector_app.command("connect")
def connect(
    chapter: Chapter,
    provider: Annotated[
        str, typer.Option("--provider", help="google (Drive), dropbox or microsoft (OneDrive).")
    ],
    library: Annotated[
        str | None,
        typer.Option(
            "--library",
            help="Drive: a folder id; Dropbox: a path like /Research;"
            " OneDrive: a folder's item id. Default: the whole drive.",
        ),
    ] = None,
    browser: Annotated[
        bool, typer.Option("--browser", help="Sign in with a link even if a code would do.")
    ] = False,
    reconnect: Annotated[
        str | None,
        typer.Option("--reconnect", help="Sign this connector in again (its sign-in was refused)."),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Connect a chapter to a folder by signing in (the server keeps the tokens), or sign a
    connector whose sign-in was refused in again (--reconnect)."""
    with errors_handled(json_output), open_client() as client:
        chapter_id = resolve_chapter(client, chapter)
        if provider not in ("google", "dropbox", "microsoft"):
            raise CliError("--provider is google, dropbox or microsoft", code="invalid_argument")

        def sign_in(started: OAuthStarted | OAuthDeviceStarted) -> None:
            # On stderr, so --json's stdout holds only the connector.
            if isinstance(started, OAuthDeviceStarted):
                stderr.print(f"Open [bold]{escape(started.verification_uri)}[/] and enter the"
                             f" code [bold]{escape(started.user_code)}[/]")  # fmt: skip
            else:
                stderr.print("Open this link in a browser and sign in:")
                stderr.print(escape(started.authorize_url), soft_wrap=True)

        with stderr.status("waiting for the sign-in…") as line:

            def waiting(status: OAuthFlowStatus) -> None:
                slower = (
                    " (the provider asked to poll more slowly)"
                    if status.status == "slow_down"
                    else ""
                )
                line.update(f"waiting for the sign-in…{slower}")

            made = client.connect_oauth(chapter_id, provider, library=library, sign_in=sign_in,
                                        waiting=waiting, browser=browser, reconnect=reconnect)  # fmt: skip
        verb = "reconnected" if reconnect else "connected"
        report(made, f"connector {made.id} ({made.kind}) {verb}; sync it with ragstack sync"
               f" {chapter_id} --connector {made.id}", json_output=json_output)  # fmt: skip


@connector_app.command("list")
def list_(chapter: Chapter, json_output: JsonOpt = False) -> None:
    """A chapter's connectors and their status."""
    with errors_handled(json_output), open_client() as client:
        found = client.connectors(resolve_chapter(client, chapter))
        if json_output:
            emit_json({"connectors": found})
            return
        table = id_table("kind", "library / path", "status", "last run")
        for c in found:
            where = c.library or c.path or ("this machine" if c.pushed else "")
            table.add_row(c.id, c.kind, escape(where), c.status, _summary(c.report))
        console.print(table)


@connector_app.command("show")
def show(chapter: Chapter, connector: str, json_output: JsonOpt = False) -> None:
    """A connector's status, cursor, last run and per-item errors."""
    with errors_handled(json_output), open_client() as client:
        found = client.connector(resolve_chapter(client, chapter), connector)
        if json_output:
            emit_json(found)
            return
        _print_status(found)


@connector_app.command("remove")
def remove(
    chapter: Chapter,
    connector: str,
    remove_sources: Annotated[
        bool, typer.Option("--remove-sources", help="Also remove the sources it brought in.")
    ] = False,
    json_output: JsonOpt = False,
) -> None:
    """Stop and forget a connector (its sources stay unless --remove-sources)."""
    with errors_handled(json_output), open_client() as client:
        client.delete_connector(resolve_chapter(client, chapter), connector,
                                remove_sources=remove_sources)  # fmt: skip
        report({"removed": connector}, f"connector {connector} removed", json_output=json_output)


def register(app: typer.Typer) -> None:
    """Add these commands to the `ragstack` app."""
    app.command()(sync)
    app.add_typer(connector_app, name="connector")
