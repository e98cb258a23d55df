"""Benchmark of the bundled embedder's runner (issue 14): one-core runs side by side against one
run spread over the cores, for each variant, on the NumPy set's documents.

    uv run python bench/bench_embedder.py            # the figures (about two minutes on 2 cores)
    uv run python bench/bench_embedder.py --quick    # tiny sizes: checks that the script works

Contenders, each fed the same texts in calls of 64 (as the embedding cache calls it), measured in
alternating rounds (bench/common.py `alternate`), texts per second:
- `shipped`: `LocalEmbedder` as the server runs it (`threads` one-core runs side by side; int8
  each text alone, fp32 in batches of 8);
- `spread` (the baseline): one run at a time spread over `threads` intra-op threads, as the
  embedder ran before (int8 each text alone, fp32 in batches of 32);
- fp32 only, `side_by_side_32`: side by side, batches of 32 (what batches of 8 replaced).
Also whether a text's int8 vector is the same bit for bit from both runners.

Progress goes to stderr; the last line of stdout is one JSON object with the figures.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.common import alternate, bench_parser, done, finished, machine, median, ratio, say
from bench.numpy_docs_set import build
from projections.providers.local_embedder import (
    LocalEmbedder,
    _load_tokenizer,
    _run_batch,
    cpu_signature,
    packaged_model_dir,
)

CALL = 64
"""Texts per call of the embedder: CachedEmbedder's batch."""


@dataclass(frozen=True)
class Sizes:
    texts: int
    rounds: int


FULL = Sizes(texts=384, rounds=3)
QUICK = Sizes(texts=32, rounds=1)


def _spread_session(embedder: LocalEmbedder, variant: str, threads: int) -> Any:
    """A session on the variant's (cached) graph with `threads` intra-op threads: the old runner."""
    import onnxruntime as ort

    embedder._load()  # builds (or finds) the graph and records its path
    assert embedder.graph_path is not None, "the graph could not be cached"
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(
        str(embedder.graph_path), options, providers=["CPUExecutionProvider"]
    )


def _spread(session: Any, encodings: list[Any], batch: int) -> np.ndarray:
    """The old runner: length-sorted batches, one run at a time."""
    order = np.argsort([len(e.ids) for e in encodings], kind="stable")
    out = np.empty((len(encodings), LocalEmbedder.dim), dtype=np.float32)
    for start in range(0, len(order), batch):
        rows = order[start : start + batch]
        out[rows] = _run_batch(session, [encodings[r] for r in rows])
    return out


async def run(sizes: Sizes, quick: bool) -> dict[str, Any]:
    threads = len(os.sched_getaffinity(0))
    labelled = build({"paraphrase": 4, "name": 2, "code": 2, "number": 2})
    docs = list(labelled.corpus.values())
    random.Random(14).shuffle(docs)
    texts = [f"{d.title}\n\n{d.text}" if d.title else d.text for d in docs[: sizes.texts]]
    tokenizer = _load_tokenizer(packaged_model_dir() / "tokenizer.json")
    encodings = tokenizer.encode_batch(texts)
    calls = [texts[i : i + CALL] for i in range(0, len(texts), CALL)]
    figures: dict[str, Any] = {"benchmark": "embedder", "quick": quick, "machine": machine(),
                               "threads": threads, "texts": len(texts), "call": CALL,
                               "mean_tokens": round(float(np.mean([len(e.ids) for e in encodings])), 1)}  # fmt: skip
    for variant, old_batch in (("int8", 1), ("fp32", 32)):
        shipped = LocalEmbedder(precision=variant, threads=threads)  # type: ignore[arg-type]
        shipped.embed_sync(texts[:2])
        spread = _spread_session(shipped, variant, threads)
        wide = LocalEmbedder(precision=variant, threads=threads, batch_size=32)  # type: ignore[arg-type]

        async def by_calls(embed: Any) -> int:
            for call in calls:
                await asyncio.to_thread(embed, call)
            return len(texts)

        contenders = {
            "shipped": lambda e=shipped: by_calls(e.embed_sync),
            "spread": lambda s=spread, b=old_batch: by_calls(
                lambda call: _spread(s, tokenizer.encode_batch(call), b)
            ),
        }
        if variant == "fp32":
            contenders["side_by_side_32"] = lambda e=wide: by_calls(e.embed_sync)
        say(f"{variant}: {len(texts)} texts, {sizes.rounds} alternating rounds")
        rates = await alternate(sizes.rounds, contenders)
        for name, values in rates.items():
            figures[f"{variant}_{name}_per_s"] = round(median(values), 1)
        figures[f"{variant}_shipped_vs_spread"] = ratio(
            figures[f"{variant}_shipped_per_s"], figures[f"{variant}_spread_per_s"]
        )
        say(", ".join(f"{name} {median(v):.1f}/s" for name, v in rates.items()))
        if variant == "int8":
            same = np.array_equal(shipped.embed_sync(texts), _spread(spread, encodings, 1))
            figures["int8_same_vectors_either_runner"] = bool(same)
    figures["cpu"], figures["cpu_flags"] = cpu_signature()["cpu"], cpu_signature()["flags"]
    return finished(
        figures,
        sizes,
        {
            "int8_shipped_faster": figures["int8_shipped_vs_spread"] > 1,
            "fp32_shipped_faster": figures["fp32_shipped_vs_spread"] > 1,
            "int8_vectors_unchanged": figures["int8_same_vectors_either_runner"],
        },
    )


def main(argv: list[str] | None = None) -> None:
    args = bench_parser(__doc__).parse_args(argv)
    done(asyncio.run(run(QUICK if args.quick else FULL, args.quick)))


if __name__ == "__main__":
    main()
