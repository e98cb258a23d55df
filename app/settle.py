"""Read-your-writes: wait, bounded, until read models have folded a chapter up to a rev.

A command returns the revs it appended; a query that must show them first calls

    await services.settle(chapter, rev, ["catalogue"])     # True once folded, False on timeout

Two ways to know how far a read model got, behind one interface:

- `RunnerSettle`, where this process folds (roles all and worker): the runner's own positions,
  woken the moment a batch commits;
- `CheckpointSettle`, where another process folds (role gateway): the checkpoints the folding
  process stores with its read models, polled. It never starts a fold of its own, so a gateway
  stays a gateway. The checkpoints it reads are the ones the worker commits with each batch;
  the same interface will read checkpoints a worker publishes elsewhere (NATS KV, PostgreSQL)
  when processes share no disk.

A timeout is not an error: the caller answers with what there is (a read model that runs behind
is still correct for an earlier rev), and says so where it matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Protocol

from projections.runner import Projection, Runner

__all__ = ["CheckpointSettle", "RunnerSettle", "Settle"]

POLL_S = 0.05
"""How often `CheckpointSettle` looks at the stored checkpoints."""


class Settle(Protocol):
    """How far read models have folded a chapter, and a bounded wait for them."""

    async def __call__(
        self, chapter: str, rev: int, projections: Sequence[str], *, within: float
    ) -> bool:
        """True once every named projection has folded `chapter` up to `rev`; False on timeout."""
        ...

    async def position(self, chapter: str, projection: str) -> int:
        """The rev `projection` has folded `chapter` up to (0: nothing yet)."""
        ...


class RunnerSettle:
    """Settles on the in-process runner: it folds the chapter (starting it if need be)."""

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    async def __call__(
        self, chapter: str, rev: int, projections: Sequence[str], *, within: float
    ) -> bool:
        try:
            async with asyncio.timeout(within):
                await self._runner.wait(chapter, rev, projections=list(projections))
        except TimeoutError:
            return False
        return True

    async def position(self, chapter: str, projection: str) -> int:
        return self._runner.positions(chapter).get(projection, 0)


class CheckpointSettle:
    """Settles on the checkpoints another process stores; never folds anything itself."""

    def __init__(self, projections: Mapping[str, Projection], *, poll_s: float = POLL_S) -> None:
        self._projections = dict(projections)
        self._poll_s = poll_s

    async def __call__(
        self, chapter: str, rev: int, projections: Sequence[str], *, within: float
    ) -> bool:
        try:
            async with asyncio.timeout(within):
                while True:
                    folded = [await self.position(chapter, name) for name in projections]
                    if all(at >= rev for at in folded):
                        return True
                    await asyncio.sleep(self._poll_s)
        except TimeoutError:
            return False

    async def position(self, chapter: str, projection: str) -> int:
        checkpoint = await self._projections[projection].load_checkpoint(chapter)
        return checkpoint[0] if checkpoint is not None else 0
