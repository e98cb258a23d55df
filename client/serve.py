"""`ragstack serve`: the whole system in one process (embedded nats-server, projections, gateway).

With client/local.py, this is one of the two client modules that reach the server packages,
and it imports them inside its functions, so that `import client` stays light and the CLI's
other commands work without them (tests/architecture checks it). The shape of a run:

    settings → app.services.open_services (accounts, NATS — the embedded server unless
    RAGSTACK_NATS_URL —, logs, books, shares, blobs, read models; the runner and the mirrors'
    followers for roles all and worker) → uvicorn on the same event loop (roles all and
    gateway) → a signal → uvicorn stops → services.close()

`ragstack cluster up` lives here too: it runs nats-server processes (engine/server_cluster.py)
on the user's machine, as `serve` runs one.

Signals are ours, not uvicorn's: uvicorn's own handling re-raises SIGTERM once it has stopped,
which would kill the process before the services (and the nats-server child) are closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    import uvicorn

__all__ = [
    "ClusterUp",
    "Role",
    "ServeError",
    "Serving",
    "cluster_up",
    "run_cluster_up",
    "run_serve",
    "serve",
]

Role = Literal["all", "gateway", "worker"]


class ServeError(Exception):
    """The system could not start: bad configuration, a busy port, NATS out of reach."""


class Serving(msgspec.Struct, frozen=True, kw_only=True):
    """What `serve` announces once it is ready."""

    url: str | None
    """The gateway's base URL (None for role worker)."""
    data: str
    """The data directory."""
    role: Role
    nats: str
    """The NATS server the logs live on."""


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host
    if ":" in shown:
        shown = f"[{shown}]"  # an IPv6 literal
    return f"http://{shown}:{port}"


def _listen(host: str, port: int) -> socket.socket:
    """Bind the gateway's socket before anything else starts, to fail fast and clearly."""
    from gateway.listen import listen

    try:
        return listen(host, port)
    except OSError as exc:
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def _uvicorn_server(app: Any, host: str, port: int) -> uvicorn.Server:
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # serve() installs our handlers; uvicorn's would re-raise SIGTERM after stopping.
            yield

    config = uvicorn.Config(
        app, host=host, port=port, access_log=False, log_level="info", lifespan="off"
    )
    return Server(config)


async def _first(*aws: asyncio.Future[Any]) -> None:
    await asyncio.wait(aws, return_when=asyncio.FIRST_COMPLETED)


class _Stopper:
    """Turns SIGINT/SIGTERM into a stop: uvicorn's `should_exit`, and an event for the rest."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.server: uvicorn.Server | None = None

    def __call__(self, sig: signal.Signals) -> None:
        if self.stop.is_set() and sig == signal.SIGINT and self.server is not None:
            self.server.force_exit = True  # a second Ctrl-C: do not wait for open connections
        self.stop.set()
        if self.server is not None:
            self.server.should_exit = True


async def serve(
    *,
    data: Path | None = None,
    host: str | None = None,
    port: int | None = None,
    role: Role = "all",
    config: Path | None = None,
    on_ready: Callable[[Serving], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop` is set), then stop everything in order.

    `on_ready` is called once everything answers; `ServeError` when the system cannot start.
    """
    from app.settings import ConfigError, load_settings
    from engine.errors import EngineError

    try:
        settings = load_settings(
            config,
            # load_settings converts strings to paths (a Path itself trips its decoder).
            data_dir=str(data) if data is not None else None,
            host=host,
            port=port,
            role=role,
        )
    except ConfigError as exc:
        raise ServeError(str(exc)) from None
    stopper = _Stopper(stop or asyncio.Event())
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
            loop.add_signal_handler(sig, stopper, sig)
            installed.append(sig)
    sock = None
    try:
        sock = _listen(settings.host, settings.port) if role != "worker" else None
        await _run(settings, role, sock, stopper, on_ready)
    except (EngineError, ConfigError, OSError, ValueError) as exc:  # ValueError: a bad NATS URL
        raise ServeError(str(exc) or type(exc).__name__) from None
    finally:
        if sock is not None:
            sock.close()
        for sig in installed:
            loop.remove_signal_handler(sig)


async def _run(
    settings: Any,
    role: Role,
    sock: socket.socket | None,
    stopper: _Stopper,
    on_ready: Callable[[Serving], None] | None,
) -> None:
    from app.services import open_services
    from gateway.app import create_app

    # Opening can take a while (NATS, the stores): a signal meanwhile cancels it cleanly.
    opening = asyncio.ensure_future(open_services(settings, role=role))
    stopping = asyncio.ensure_future(stopper.stop.wait())
    await _first(opening, stopping)
    if not opening.done():
        opening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await opening
        return
    services = opening.result()
    try:
        nats_url = services.logs.server_url() or "?"
        if role == "worker":
            if on_ready is not None:
                on_ready(Serving(url=None, data=str(settings.data), role=role, nats=nats_url))
            await stopping
            return
        assert sock is not None
        server = stopper.server = _uvicorn_server(
            create_app(services), settings.host, settings.port
        )
        if stopper.stop.is_set():
            return
        serving = asyncio.ensure_future(server.serve(sockets=[sock]))
        while not server.started and not serving.done():  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.02)
        if serving.done():
            serving.result()  # its error, if it failed to start
            if not stopper.stop.is_set():
                raise ServeError("the HTTP server stopped while starting")
            return
        if on_ready is not None:
            url = _url(settings.host, sock.getsockname()[1])
            on_ready(Serving(url=url, data=str(settings.data), role=role, nats=nats_url))
        await _first(serving, stopping)
        server.should_exit = True
        await serving
    finally:
        stopping.cancel()
        await services.close()


def run_serve(**options: Any) -> None:
    """`serve` on a fresh event loop (the CLI's entry)."""
    asyncio.run(serve(**options))


class ClusterUp(msgspec.Struct, frozen=True, kw_only=True):
    """What `cluster up` announces once the cluster's JetStream answers."""

    urls: list[str]
    """Each node's client URL."""
    nats_url: str
    """The same, comma-separated: the value of `RAGSTACK_NATS_URL`."""
    user: str
    """The engine's user on every node."""
    password_file: str
    """Where its password is kept (mode 0600; never printed)."""
    data: str
    """The cluster's directory (one sub-directory per node)."""


async def cluster_up(
    *,
    nodes: int,
    data: Path,
    on_ready: Callable[[ClusterUp], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run a JetStream cluster of `nodes` nats-servers on loopback until SIGINT/SIGTERM (or
    `stop`), then stop every node cleanly. `ServeError` when it cannot start."""
    from engine.errors import EngineError
    from engine.server_cluster import LocalCluster

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not main thread
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    try:
        try:
            cluster = LocalCluster(data, nodes)
        except ValueError as exc:
            raise ServeError(str(exc)) from None
        starting = asyncio.ensure_future(cluster.start())
        stopping = asyncio.ensure_future(stop.wait())
        await _first(starting, stopping)
        try:
            if not starting.done():
                starting.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await starting
                return
            starting.result()
            if on_ready is not None:
                on_ready(
                    ClusterUp(
                        urls=cluster.urls,
                        nats_url=cluster.url,
                        user=cluster.user,
                        password_file=str(cluster.password_file),
                        data=str(cluster.data_dir),
                    )
                )
            await stopping
        finally:
            stopping.cancel()
            await cluster.stop()
    except (EngineError, OSError) as exc:
        raise ServeError(str(exc) or type(exc).__name__) from None
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_cluster_up(**options: Any) -> None:
    """`cluster_up` on a fresh event loop (the CLI's entry)."""
    asyncio.run(cluster_up(**options))
