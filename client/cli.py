"""The `ragstack` command line (its command names are a contract: docs/architecture.md).

    ragstack serve [--data DIR] [--host H] [--port 8000] [--role all|gateway|worker]
    ragstack cluster up [--nodes 3] [--data DIR]
    ragstack login URL [--email E] [--password P] [--signup]    ragstack logout    ragstack whoami
    ragstack book list|create|members|invite …                  ragstack chapter list|create|rename|delete …
    ragstack add CHAPTER PATH… [--tag T] [--wait]                ragstack add CHAPTER --url URL
    ragstack search CHAPTER QUERY [-k N]                         ragstack ask CHAPTER QUESTION
    ragstack history CHAPTER    ragstack verify CHAPTER    ragstack replay CHAPTER --rev N|--at TIME
    ragstack export CHAPTER [-o FILE]   ragstack import FILE [--book B]   ragstack verify --archive FILE
    ragstack me export|erase    ragstack sources erase CHAPTER SOURCE    ragstack migrate CHAPTER
    ragstack share CHAPTER --mode M --to EMAIL                  ragstack shares list|revoke|accept …
    ragstack follow TOKEN [--from URL] [--dir D] [--once]       ragstack replica sources|search|history
    ragstack sync CHAPTER [--connector ID] [--zotero-dir DIR]   ragstack connector add|list|show|remove …

Every command has `--json`; errors go to stderr with exit status 1. This module holds the
commands about the server and the account; the others live in cli_books, cli_sources, cli_audit, cli_archive, cli_shares,
cli_connectors, cli_erasure.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from client.cli_archive import register as register_archive
from client.cli_audit import register as register_audit
from client.cli_books import book_app, chapter_app
from client.cli_common import (
    JsonOpt,
    console,
    emit_json,
    errors_handled,
    fail,
    open_client,
    report,
)
from client.cli_connectors import register as register_connectors
from client.cli_erasure import register as register_erasure
from client.cli_shares import register as register_shares
from client.cli_sources import register as register_sources
from client.config import Credentials, clear_credentials, load_credentials, save_credentials
from client.errors import ApiError
from client.sync import Client

__all__ = ["app", "main"]

app = typer.Typer(
    name="ragstack",
    help="RagStack: books of chapters of sources, searched and asked, every chapter a verifiable log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data directory (default ~/.local/share/ragstack)."),
    ] = None,
    host: Annotated[
        str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (default 8000).")] = None,
    role: Annotated[
        str, typer.Option(help="all, gateway (HTTP only) or worker (projections only).")
    ] = "all",
    config: Annotated[
        Path | None, typer.Option("--config", help="A ragstack.toml (default ./ragstack.toml).")
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Run the whole system on this machine: embedded NATS, projections, the HTTP gateway."""
    from client.serve import ServeError, Serving, run_serve

    if role not in ("all", "gateway", "worker"):
        fail(f"--role must be all, gateway or worker, not {role!r}", json_output=json_output)

    def announce(serving: Serving) -> None:
        if json_output:
            sys.stdout.write(json.dumps({"ready": True, **_plain(serving)}) + "\n")
            sys.stdout.flush()
            return
        if serving.url is not None:
            console.print(f"RagStack is serving at [bold cyan]{serving.url}[/]")
        else:
            console.print("RagStack worker is folding projections")
        console.print(f"  data: {escape(serving.data)}   NATS: {escape(serving.nats)}")
        if serving.url is not None:
            console.print(f"  sign up: [bold]ragstack login {serving.url} --signup[/]")
        console.print("  Ctrl-C stops it.")

    try:
        run_serve(data=data, host=host, port=port, role=role, config=config, on_ready=announce)
    except ServeError as exc:
        fail(str(exc), json_output=json_output, code="serve")
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were in place
        raise typer.Exit(130) from None


cluster_app = typer.Typer(
    help="A JetStream cluster on this machine, to run `serve` on (docs/deploy.md).",
    no_args_is_help=True,
)


def _default_cluster_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path("~/.local/share").expanduser())
    return Path(base) / "ragstack" / "cluster"


@cluster_app.command("up")
def cluster_up(
    nodes: Annotated[int, typer.Option(help="How many nats-server nodes (3 for R3 streams).")] = 3,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="The cluster's directory (default ~/.local/share/ragstack/cluster)."
        ),
    ] = None,
    json_output: JsonOpt = False,
) -> None:
    """Run a local JetStream cluster (loopback ports, fsync before every ack) until Ctrl-C."""
    from client.serve import ClusterUp, ServeError, run_cluster_up

    def announce(up: ClusterUp) -> None:
        if json_output:
            sys.stdout.write(json.dumps({"ready": True, **_plain(up)}) + "\n")
            sys.stdout.flush()
            return
        console.print(f"A JetStream cluster of {len(up.urls)} nodes is running:")
        for url in up.urls:
            console.print(f"  {escape(url)}")
        replicas = min(3, len(up.urls))
        console.print("Serve on it (in another terminal):")
        console.print(
            f"  RAGSTACK_NATS_URL={escape(up.nats_url)} RAGSTACK_NATS_USER={escape(up.user)} "
            f"RAGSTACK_NATS_PASSWORD=$(cat {escape(up.password_file)}) "
            f"RAGSTACK_NATS_REPLICAS={replicas} ragstack serve",
            soft_wrap=True,  # one line to copy, whatever the terminal's width
        )
        console.print(f"  data: {escape(up.data)}   Ctrl-C stops it.")

    try:
        run_cluster_up(
            nodes=nodes, data=(data or _default_cluster_dir()).expanduser(), on_ready=announce
        )
    except ServeError as exc:
        fail(str(exc), json_output=json_output, code="cluster")
    except KeyboardInterrupt:  # a Ctrl-C before the handlers were in place
        raise typer.Exit(130) from None


def _plain(serving: object) -> dict[str, object]:
    import msgspec

    return msgspec.to_builtins(serving)


@app.command()
def login(
    url: Annotated[str, typer.Argument(help="The server, e.g. http://127.0.0.1:8000.")],
    email: Annotated[str | None, typer.Option(help="Your e-mail (asked when missing).")] = None,
    password: Annotated[
        str | None, typer.Option(help="Your password (asked when missing; prefer the prompt).")
    ] = None,
    signup: Annotated[bool, typer.Option("--signup", help="Create the account first.")] = False,
    name: Annotated[str, typer.Option(help="Display name, with --signup.")] = "",
    json_output: JsonOpt = False,
) -> None:
    """Sign in to a server (or sign up with --signup) and remember the token."""
    url = url.rstrip("/")
    if not url.startswith(("http://", "https://")):
        fail(f"{url!r} is not an http(s) URL", json_output=json_output, code="invalid_url")
    with errors_handled(json_output):
        email = email or typer.prompt("E-mail")
        password = password or typer.prompt("Password", hide_input=True, confirmation_prompt=signup)
        with Client(url) as client:
            if signup:
                session = client.signup(email, password, name)
            else:
                session = client.login(email, password, token_name="ragstack-cli")
        path = save_credentials(
            Credentials(
                url=url, token=session.token, email=session.user.email, token_id=session.token_id
            )
        )
        if json_output:
            emit_json({"url": url, "user": session.user, "credentials": str(path)})
        else:
            verb = "Signed up and logged in" if signup else "Logged in"
            console.print(f"{verb} to {escape(url)} as [bold]{escape(session.user.email)}[/]")


@app.command()
def logout(json_output: JsonOpt = False) -> None:
    """Revoke this machine's token on the server and forget it."""
    with errors_handled(json_output):
        credentials = load_credentials()
        revoked = False
        if credentials is not None and credentials.token and credentials.token_id:
            try:
                with Client(credentials.url, credentials.token) as client:
                    client.revoke_token(credentials.token_id)
                revoked = True
            except ApiError:
                pass  # an expired token or an unreachable server: forgetting it is what counts
        removed = clear_credentials()
        if json_output:
            emit_json({"logged_out": removed, "revoked": revoked})
        elif removed:
            console.print("Logged out" + (" (token revoked)" if revoked else ""))
        else:
            console.print("Not logged in")


@app.command()
def whoami(json_output: JsonOpt = False) -> None:
    """The account and server this machine is logged in to."""
    with errors_handled(json_output), open_client() as client:
        user = client.me()
        report(
            {"url": client.url, "user": user},
            f"{escape(user.email)} on {escape(client.url)}",
            json_output=json_output,
        )


app.add_typer(cluster_app, name="cluster")
app.add_typer(book_app, name="book")
app.add_typer(chapter_app, name="chapter")
register_sources(app)
register_audit(app)
register_archive(app)
register_erasure(app)
register_shares(app)
register_connectors(app)


def main() -> None:
    """The console script's entry."""
    app()


if __name__ == "__main__":
    main()
