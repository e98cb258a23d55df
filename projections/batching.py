"""Coalesces concurrent calls into batched ones: query embeddings, index queries.

A model embeds a batch of short texts for far less than the sum of single calls (the local
MiniLM: about 2 ms a query in a batch of 8, against 5 ms alone), a remote embedder makes one
request instead of many, and Chroma answers 8 queries in one call for about a third of the time
of 8 calls. While one batch of a key runs, the calls that arrive for that key wait for the next,
which takes them all: a lone call never waits for company, and under load batches form by
themselves.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[K, T, R]):
    """`submit(key, item)` for many concurrent callers, through `run(key, items)` calls that
    answer a list of results in the items' order. Calls of different keys never share a batch.

    A batch that fails with an error `isolate` accepts (bad input: one item may be to blame) is
    retried item by item, so only the bad item's caller hears of it. Any other error (a service
    down, a rate limit) goes to every caller of the batch at once: retrying each alone would
    only repeat the wait.
    """

    def __init__(
        self,
        run: Callable[[K, list[T]], Awaitable[list[R]]],
        *,
        isolate: Callable[[Exception], bool] = lambda exc: False,
        max_batch: int = 32,
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be at least 1, not {max_batch}")
        self._run_batch = run
        self._isolate = isolate
        self._max_batch = max_batch
        self._waiting: dict[K, list[tuple[T, asyncio.Future[R]]]] = {}
        self._drainers: dict[K, asyncio.Task[None]] = {}
        self.calls = 0
        """Calls made to `run` (for tests and figures)."""

    async def submit(self, key: K, item: T) -> R:
        """The result for `item`, computed alone or with whatever arrives meanwhile."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append((item, future))
        if key not in self._drainers:
            self._drainers[key] = asyncio.create_task(self._drain(key))
        return await future

    async def _drain(self, key: K) -> None:
        try:
            while waiting := self._waiting.get(key):
                batch = waiting[: self._max_batch]
                del waiting[: self._max_batch]
                batch = [(item, future) for item, future in batch if not future.done()]
                if batch:
                    await self._run(key, batch)
        except BaseException:
            # Cancelled (the loop shutting down): nobody may be left waiting for an answer.
            for _, future in self._waiting.pop(key, []):
                future.cancel()
            raise
        finally:
            self._drainers.pop(key, None)
            if not self._waiting.get(key):
                self._waiting.pop(key, None)

    async def _run(self, key: K, batch: list[tuple[T, "asyncio.Future[R]"]]) -> None:
        self.calls += 1
        try:
            results = await self._run_batch(key, [item for item, _ in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} returned {len(results)} results")
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            if len(batch) > 1 and self._isolate(exc):
                for one in batch:
                    await self._run(key, [one])
                return
            for _, future in batch:
                if not future.done():  # its caller may have been cancelled meanwhile
                    future.set_exception(exc)
            return
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():
                future.set_result(result)
