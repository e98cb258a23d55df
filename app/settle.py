"""Read-your-writes: wait, bounded, until read models have folded a chapter up to a rev.

A command returns the revs it appended; a query that must show them first calls

    await services.settle(chapter, rev, ["catalogue"])     # True once folded, False on timeout

Two ways to know how far a read model got, behind one interface:

- `RunnerSettle`, where this process folds (roles all and worker): the runner's own positions,
  woken the moment a batch commits;
- `CheckpointSettle`, where other processes fold (role gateway): the positions the folding
  processes publish in NATS KV after each committed batch (engine/jetstream/checkpoints.py),
  polled. It never starts a fold of its own, so a gateway stays a gateway, and it needs no
  access to the workers' disk to know how far they got (issue 12).

A timeout is not an error: the caller answers with what there is (a read model that runs behind
is still correct for an earlier rev), and says so where it matters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from engine.jetstream.checkpoints import PublishedCheckpoints
from projections.runner import Runner

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
    """Settles on the checkpoints folding processes publish; never folds anything itself."""

    def __init__(self, published: PublishedCheckpoints, *, poll_s: float = POLL_S) -> None:
        self._published = published
        self._poll_s = poll_s

    async def __call__(
        self, chapter: str, rev: int, projections: Sequence[str], *, within: float
    ) -> bool:
        try:
            async with asyncio.timeout(within):
                while True:
                    positions = await self._positions(chapter)
                    if all(positions.get(name, 0) >= rev for name in projections):
                        return True
                    await asyncio.sleep(self._poll_s)
        except TimeoutError:
            return False

    async def position(self, chapter: str, projection: str) -> int:
        return (await self._positions(chapter)).get(projection, 0)

    async def _positions(self, chapter: str) -> dict[str, int]:
        try:
            return await self._published.positions(chapter)
        except Exception:  # NATS away for a moment: not folded as far as we know, ask again
            return {}
