"""The bundled embedder's `auto` precision on an upgrade: a data directory whose vectors were
made by the fp32 model keeps fp32 (no chapter re-embedded unasked); a new one lets auto choose."""

from __future__ import annotations

from pathlib import Path

from app.readside import open_read_side
from app.settings import load_settings
from engine.blobs import LocalBlobStore
from engine.log import Logs
from projections.providers.local_embedder import LocalEmbedder
from projections.store import Views


async def _opened(data: Path, nc, models: Path) -> LocalEmbedder:
    settings = load_settings(environ={}, data_dir=str(data), llm={"kind": "extractive"})
    embedder = LocalEmbedder(precision="auto", cache_dir=models)
    async with Logs(nc) as logs:
        read = await open_read_side(
            settings, logs, LocalBlobStore(data / "blobs"), embedder=embedder,
            use_llm_settings=False,
        )  # fmt: skip
        await read.close()
    return embedder


async def test_vectors_folded_before_the_model_was_recorded_keep_fp32(tmp_path: Path, nc):
    data = tmp_path / "upgraded"
    data.mkdir()
    views = await Views.open(data / "views.sqlite3")
    async with views.transaction() as db:  # what a release before int8 left: a checkpoint only
        await db.execute("INSERT INTO checkpoints VALUES ('vectors', 'c1', 12, 2)")
    await views.close()
    embedder = await _opened(data, nc, tmp_path / "models")
    assert embedder.precision == "fp32" and embedder.choice is None  # kept, nothing measured


async def test_a_new_data_directory_lets_auto_choose(tmp_path: Path, nc, local_embedder_int8):
    # Both graphs are cached already (the session's fixtures): auto measures, then picks.
    embedder = await _opened(tmp_path / "new", nc, local_embedder_int8.cache_dir)
    assert embedder.choice is not None and embedder.precision == embedder.choice["precision"]
