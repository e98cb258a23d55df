"""The composition root: every part of RagStack opened from `Settings`, for one process.

`ragstack serve` (every role), the gateway's app and the tests all get their parts here:

    services = await open_services(settings, role="all")
    app = create_app(services)          # gateway/app.py, for roles all and gateway
    ...
    await services.close()              # last opened first

What a role changes: `all` starts the runner, which folds every chapter's read models in this
process; `worker` folds only the chapters whose lease it holds (NATS KV, engine/jetstream/
leases.py), so any number of workers share them, and the same lease decides which worker signs a
chapter's heads and follows a mirror; `gateway` opens the same read models to answer queries but
never folds, and waits for the checkpoints folding processes publish in NATS KV instead
(`ReadSide.settle`, app/settle.py). Every folding process publishes them. Whoever opens the
services owns their life; the app never opens or closes them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from prometheus_client import CollectorRegistry

from app.book_llms import BookLLMs
from app.book_rerankers import BookRerankers
from app.heads import HeadSigner
from app.readside import ReadSide, open_read_side
from app.relay import Relay
from app.reranking import server_rerank
from app.retrieval_settings import BookRetrieval
from app.settings import Settings
from engine.accounts import AccountStore, open_account_store
from engine.accounts.secrets import SecretBox
from engine.blobs import BlobStore, open_blob_store
from engine.books import Books
from engine.connectors.sync import ProcessSyncs
from engine.errors import EngineError
from engine.guests import GuestUsers
from engine.jetstream.checkpoints import PublishedCheckpoints
from engine.jetstream.claims import Claims
from engine.jetstream.leases import ChapterLeases
from engine.keys import BookKeys
from engine.log import Logs
from engine.nats import engine_connection
from engine.shares import Shares
from events import new_id
from projections.embedding_cache import Embedder
from projections.providers import LLM
from projections.vectorstores import VectorIndex

if TYPE_CHECKING:  # app/mirrors.py builds on the services; it is imported where they open
    from app.connectors import Connectors
    from app.mirrors import Mirrors

__all__ = ["ReadinessCheck", "Role", "Services", "accounts_readiness", "open_services"]

Role = Literal["all", "gateway", "worker"]
"""Which parts a process runs: everything, HTTP only, or folding only."""

ReadinessCheck = Callable[[], Awaitable[tuple[str, bool, str]]]
"""An async check for /health/ready returning (name, ok, detail).

It should not raise: one that does, or that takes longer than the endpoint waits, is reported as
not ok under its function's `__name__`.
"""

log = logging.getLogger("ragstack.gateway")

LEASE_TTL_S = 6.0
"""A worker's chapter leases expire this long after its last renewal (renewed every third of
it): a dead worker's chapters are folded by another within about this long plus a round."""

READ_YOUR_WRITES_S = 5.0
"""How long a read waits for read models to show the caller's own writes."""

# Syntactically valid and under a reserved TLD, so it can never be a real user's address.
_PROBE_EMAIL = "readiness-probe@ragstack.invalid"


@dataclass
class Services:
    """The parts the handlers call into; one instance per process."""

    settings: Settings
    """The configuration the parts were opened with (limits, data directory, …)."""
    accounts: AccountStore
    """Users, API tokens, share tokens and encrypted secrets."""
    logs: Logs
    """Chapter and book logs (the write side)."""
    books: Books
    """Books, members and chapters, with the rules of who may do what."""
    shares: Shares
    """Chapters' shares: grants, revocations, tokens."""
    blobs: BlobStore
    """File bytes and extracted texts, by BLAKE3 hash."""
    read: ReadSide
    """The read models (catalogue, vectors, chat), their runner, the default answerer."""
    llms: BookLLMs
    """Which model answers each book's questions (its settings, else the server's)."""
    retrieval: BookRetrieval
    """How each book's chapters are searched (mode, coverage threshold)."""
    rerankers: BookRerankers
    """Which rerank service reorders each book's passages (its settings, else the server's)."""
    role: Role = "all"
    """Which parts this process runs."""
    mirrors: Mirrors | None = None
    """The followers of live mirrors (shares accepted from others): roles all and worker."""
    readiness_checks: list[ReadinessCheck] = field(default_factory=list)
    """Checks /health/ready runs, all of them, concurrently; append one per part."""
    metrics: CollectorRegistry = field(default_factory=CollectorRegistry)
    """Where parts register their own Prometheus metrics (projection lag, …); /metrics serves it."""
    stack: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    """Closes every part, last opened first."""
    relay: Relay | None = None
    """The proxied shares' relay (app/relay.py): lazy, it reads nothing until a guest asks.
    Every role opens one (a worker's followers may read a share of this same server)."""
    keys: BookKeys | None = None
    """Books' signing keys, and signing heads on request (engine/keys.py): every role."""
    heads: HeadSigner | None = None
    """The worker's head signer (app/heads.py): roles all and worker."""
    connectors: Connectors | None = None
    """The scheduled connector syncs (app/connectors.py `Connectors`): roles all and worker."""
    syncs: ProcessSyncs = field(default_factory=ProcessSyncs)
    """Connector syncs' folds and locks in this process (engine/connectors/sync.py): every role."""

    async def close(self) -> None:
        """Release every part, last opened first."""
        await self.stack.aclose()

    async def settled(
        self, chapter: str, rev: int | None = None, projections: Sequence[str] = ("catalogue",)
    ) -> int:
        """Wait (bounded by `READ_YOUR_WRITES_S`) until `projections` have folded `chapter` up
        to `rev` (default: its head now); returns that rev. A read model that runs behind is
        answered from as it stands: the wait is a courtesy, not a promise."""
        if rev is None:
            rev = (await self.logs.chapter(chapter).head()).rev
        await self.read.settle(chapter, rev, projections, within=READ_YOUR_WRITES_S)
        return rev


def accounts_readiness(accounts: AccountStore) -> ReadinessCheck:
    """A check that the accounts store answers a query."""

    async def check() -> tuple[str, bool, str]:
        try:
            await accounts.find_user_by_email(_PROBE_EMAIL)
        except EngineError as exc:
            return "accounts", False, str(exc)
        except Exception as exc:
            # Not an error the store meant to raise (a closed connection, a driver bug): the
            # class names it well enough; its text could hold connection details.
            log.warning("accounts readiness check failed", exc_info=exc)
            return "accounts", False, f"the accounts store failed ({type(exc).__name__})"
        return "accounts", True, "reachable"

    return check


def log_readiness(logs: Logs) -> ReadinessCheck:
    """A check that NATS answers JetStream requests."""

    async def check() -> tuple[str, bool, str]:
        try:
            await logs.ping()
        except Exception as exc:
            return "nats", False, f"JetStream does not answer ({type(exc).__name__})"
        return "nats", True, "connected"

    return check


def projections_readiness(read: ReadSide, max_lag: int = 1000) -> ReadinessCheck:
    """A check that no chapter's projections are far behind or failing."""

    async def check() -> tuple[str, bool, str]:
        lag = read.runner.lag()
        errors = read.runner.errors()
        worst = max(lag.values(), default=0)
        if errors:
            chapter, error = next(iter(errors.items()))
            return (
                "projections",
                False,
                f"{len(errors)} chapter(s) retrying, e.g. {chapter}: {error}",
            )
        return "projections", worst <= max_lag, f"largest lag {worst} events"

    return check


SWEEP_S = 10.0
"""How often direct shares no longer in force (expired, say) lose their NATS credentials."""


async def sweep_forever(shares: Shares, every: float = SWEEP_S) -> None:
    """`Shares.sweep` every `every` seconds, until cancelled."""
    while True:
        await asyncio.sleep(every)
        try:
            await shares.sweep()
        except Exception as exc:  # NATS restarting: the next round catches up
            log.warning("sweeping ended direct shares failed: %s", exc)


def worker_id() -> str:
    """A lease holder's name: host, process and a random tail (unique among live workers, and
    readable in `nats kv ls RS_LEASES`)."""
    host = re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40] or "host"
    return f"{host}-{os.getpid()}-{new_id()[-8:]}"


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def open_services(
    settings: Settings,
    *,
    role: Role = "all",
    embedder: Embedder | None = None,
    index: VectorIndex | None = None,
    llm: LLM | None = None,
    use_llm_settings: bool = True,
    **account_options: Any,
) -> Services:
    """Open every part from `settings`; on a failure, close what was already open.

    Roles all and worker fold chapters in this process; role gateway only reads (see above).
    `embedder`, `index` and `llm` replace the configured ones (tests); `account_options` go to
    the accounts store's `open` (tests pass a fast `passwords` profile and a `clock`).
    """
    async with contextlib.AsyncExitStack() as stack:
        box = SecretBox.load(settings.data)
        location = settings.accounts or settings.data / "accounts.sqlite3"
        accounts = await open_account_store(location, box, **account_options)
        stack.push_async_callback(accounts.close)
        connection = await stack.enter_async_context(
            engine_connection(
                settings.data,
                url=settings.nats.url,
                user=settings.nats.user,
                password=settings.nats.password,
                listen=settings.nats.listen,
                tls=settings.nats.tls_files(),
            )
        )
        nc = connection.nc
        # Direct shares need the embedded server (per-guest users); an external NATS has none.
        server = connection.server
        direct = GuestUsers(server, nc, url=settings.nats.guest_url) if server else None
        blobs = open_blob_store(settings.blobs or settings.data / "blobs")
        stack.push_async_callback(blobs.aclose)
        # Chapter logs seal personal fields into this blob store (engine/personal.py).
        logs = Logs(
            nc,
            replicas=settings.nats.replicas,
            max_event_bytes=settings.limits.event_bytes,
            blobs=blobs,
        )
        stack.push_async_callback(logs.close)
        books = Books(logs)
        await books.start()
        stack.push_async_callback(books.stop)
        published = await PublishedCheckpoints.open(nc, replicas=settings.nats.replicas)
        leases = (
            await ChapterLeases.open(
                nc, worker_id(), ttl=LEASE_TTL_S, replicas=settings.nats.replicas
            )
            if role == "worker"
            else None
        )
        read = await open_read_side(
            settings,
            logs,
            blobs,
            embedder=embedder,
            index=index,
            llm=llm,
            use_llm_settings=use_llm_settings,
            folds=role != "gateway",
            published=published,
            leases=leases,
        )
        stack.push_async_callback(read.close)
        if role != "gateway":
            await read.runner.start()
        checks = [accounts_readiness(accounts), log_readiness(logs), projections_readiness(read)]
        llms = BookLLMs(accounts, default=read.llm)
        stack.push_async_callback(llms.aclose)
        rerankers = BookRerankers(accounts, default=server_rerank(read))
        stack.push_async_callback(rerankers.aclose)
        services = Services(
            settings=settings,
            accounts=accounts,
            logs=logs,
            books=books,
            shares=Shares(logs, books, accounts, direct=direct),
            blobs=blobs,
            read=read,
            llms=llms,
            retrieval=BookRetrieval(accounts),
            rerankers=rerankers,
            role=role,
            readiness_checks=checks,
            # A connector syncs in one process at a time, whichever role runs it.
            syncs=ProcessSyncs(await Claims.open(nc, worker_id(), replicas=settings.nats.replicas)),
        )
        # Before the followers, which may read it (a share of this same server), and closed after.
        services.relay = Relay(
            logs, books, blobs, tick_s=settings.sharing.tick_s, registry=services.metrics
        )
        stack.push_async_callback(services.relay.close)
        if direct is not None:  # expired direct shares lose their NATS credentials
            sweeper = asyncio.create_task(sweep_forever(services.shares), name="share-sweeper")
            stack.push_async_callback(_cancelled, sweeper)
        services.keys = BookKeys(logs, books, accounts)
        if role != "gateway":
            services.heads = HeadSigner(books, services.keys, owns=read.runner.holds)
            await services.heads.start()
            stack.push_async_callback(services.heads.stop)
        if role != "gateway":
            from app.mirrors import Mirrors

            services.mirrors = Mirrors(services)
            await services.mirrors.start()
            stack.push_async_callback(services.mirrors.stop)
            from app.connectors import Connectors

            services.connectors = Connectors(services)
            await services.connectors.start()
            stack.push_async_callback(services.connectors.stop)
        # Every part is open: the services own them now.
        services.stack.push_async_exit(stack.pop_all())
    return services
