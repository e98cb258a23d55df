"""The local embedder against what is known of all-MiniLM-L6-v2, without torch.

Three independent checks say the ONNX graph is the model: the similarity matrix published in the
sentence-transformers docs, a vector published by another implementation (Hugging Face's
text-embeddings-inference), and a plain-numpy float64 forward pass over the same packaged weights,
written here from the BERT equations.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from projections.providers.embeddings import Embedder
from projections.providers.errors import ProviderBadRequest, ProviderConfigError, ProviderError
from projections.providers.local_embedder import LocalEmbedder, packaged_model_dir

REPO = Path(__file__).resolve().parents[3]

# sentence-transformers' quickstart (docs/index.rst, README) with all-MiniLM-L6-v2.
PUBLISHED_SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
]
PUBLISHED_SIMILARITIES = [
    [1.0000, 0.6660, 0.1046],
    [0.6660, 1.0000, 0.1411],
    [0.1046, 0.1411, 1.0000],
]

# text-embeddings-inference, backends/candle/tests/snapshots/test_bert__mini_single.snap: the
# mean-pooled, not yet normalised, vector of "What is Deep Learning?" (first 16 of 384 values;
# REFERENCE_NORM is the norm of all 384). That implementation agrees with ours to about 1.4e-4
# per component (its float32 kernels differ); a wrong graph misses by far more.
REFERENCE_TEXT = "What is Deep Learning?"
REFERENCE_HEAD = [
    -0.5905822, -0.2525167, 0.14959584, 0.054548685, -0.11789139, -0.16702051, -0.2331886,
    -0.07111306, -0.19944426, -0.29595104, -0.7731143, 0.14407897, -0.29080537, -0.18528816,
    -0.90925914, -0.020204756,
]  # fmt: skip
REFERENCE_NORM = 7.580807816582227

# The numpy forward pass below, run once: the first values of "This is a test".
GOLDEN_THIS_IS_A_TEST = [
    0.0306124, 0.0138314, -0.0208438, 0.0163279, -0.0102315, -0.0479842, -0.0173134, 0.0372874,
]  # fmt: skip

LONG_NEIGHBOURS = [
    " ".join(["a much longer neighbour sentence that forces padding in its batch"] * 8),
    "short",
    "Chunks of extracted text are embedded in batches padded to their longest member.",
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="module")
def embedder(cache_dir) -> LocalEmbedder:
    return LocalEmbedder(cache_dir=cache_dir)


@pytest.fixture(scope="module")
def int8(cache_dir) -> LocalEmbedder:
    return LocalEmbedder(cache_dir=cache_dir, precision="int8")


def numpy_forward(ids: list[int]) -> np.ndarray:
    """BERT encoder + mean pooling + L2 normalisation in float64, straight from the weights."""
    model_dir = packaged_model_dir()
    weights = {
        k: v.astype(np.float64) for k, v in load_file(model_dir / "model.safetensors").items()
    }
    config = json.loads((model_dir / "config.json").read_text())
    heads, hidden = config["num_attention_heads"], config["hidden_size"]
    size = hidden // heads
    erf = np.frompyfunc(math.erf, 1, 1)

    def layer_norm(x, name):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-12) * weights[f"{name}.weight"] + weights[
            f"{name}.bias"
        ]

    def linear(x, name):
        return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]

    n = len(ids)
    x = (
        weights["embeddings.word_embeddings.weight"][ids]
        + weights["embeddings.position_embeddings.weight"][:n]
        + weights["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, "embeddings.LayerNorm")
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}"
        q, k, v = (
            linear(x, f"{p}.attention.self.{m}").reshape(n, heads, size).transpose(1, 0, 2)
            for m in ("query", "key", "value")
        )
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        probs = np.exp(scores - scores.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = layer_norm(
            linear(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm"
        )
        h = linear(x, f"{p}.intermediate.dense")
        h = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)).astype(np.float64))
        x = layer_norm(linear(h, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def test_reproduces_the_published_similarity_matrix(embedder):
    vectors = embedder.embed_sync(PUBLISHED_SENTENCES)
    # The docs print four decimals: a rounding step of 5e-5, plus float32 noise.
    np.testing.assert_allclose(vectors @ vectors.T, PUBLISHED_SIMILARITIES, atol=6e-5)


def test_matches_a_vector_published_by_another_implementation(embedder):
    (vector,) = embedder.embed_sync([REFERENCE_TEXT])
    expected = np.array(REFERENCE_HEAD) / REFERENCE_NORM
    np.testing.assert_allclose(vector[:16], expected, atol=3e-4)


def test_matches_an_independent_numpy_forward_pass(embedder):
    texts = [
        "This is a test",
        "Ünïcödé, punctuation… and CamelCase words: résumé naïve façade!",
        # Past 256 word pieces: both paths see the truncated ids.
        " ".join(f"token{i}" for i in range(300)),
    ]
    vectors = embedder.embed_sync(texts)
    for text, ids, vector in zip(texts, embedder.tokenize(texts), vectors, strict=True):
        expected = numpy_forward(ids)
        assert np.abs(vector - expected).max() < 1e-5, text
    # And the numpy path itself is pinned to the values it gave when it was written.
    np.testing.assert_allclose(vectors[0][:8], GOLDEN_THIS_IS_A_TEST, atol=1e-6)


def test_tokenizes_as_bert_uncased_with_cls_and_sep(embedder):
    assert embedder.tokenize(["This is a test"]) == [[101, 2023, 2003, 1037, 3231, 102]]
    assert embedder.tokenize([""]) == [[101, 102]]


def test_vectors_have_unit_length_and_the_declared_shape(embedder):
    vectors = embedder.embed_sync(["one", "two", "x", PUBLISHED_SENTENCES[0], LONG_NEIGHBOURS[0]])
    assert vectors.dtype == np.float32
    assert vectors.shape == (5, embedder.dim) == (5, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


def test_similar_sentences_score_far_above_unrelated_ones(embedder):
    a, b, c, d = embedder.embed_sync(
        [
            "How do I reset my password?",
            "I forgot my password and need to change it.",
            "The recipe needs two cups of flour.",
            "Photosynthesis turns sunlight into chemical energy in plants.",
        ]
    )
    assert a @ b > 0.6
    assert max(a @ c, a @ d, b @ c, b @ d) < 0.2


def test_a_text_embeds_the_same_alone_or_padded_among_long_neighbours(cache_dir, embedder):
    (alone,) = embedder.embed_sync(["This is a test"])
    # One batch of 4 padded to the longest neighbour, with the text in the middle.
    batched = embedder.embed_sync([LONG_NEIGHBOURS[0], "This is a test", *LONG_NEIGHBOURS[1:]])[1]
    # Batches of one (no padding at all) and of three (the text in a partial batch).
    ones = LocalEmbedder(cache_dir=cache_dir, batch_size=1)
    threes = LocalEmbedder(cache_dir=cache_dir, batch_size=3)
    texts = [*LONG_NEIGHBOURS, "This is a test", *LONG_NEIGHBOURS]
    by_one = ones.embed_sync(texts)
    by_three = threes.embed_sync(texts)
    for other in (batched, by_one[3], by_three[3]):
        assert np.abs(alone - other).max() < 1e-5
    assert np.abs(by_one - by_three).max() < 1e-5
    # Every row comes back in the caller's order, whatever order the batches ran in.
    np.testing.assert_allclose(by_one[:3], by_one[4:], atol=1e-5)
    np.testing.assert_allclose(embedder.embed_sync(LONG_NEIGHBOURS), by_one[:3], atol=1e-5)


def test_text_past_256_word_pieces_is_cut_there(embedder):
    head = " ".join(f"word{i}" for i in range(400))
    ids_a, ids_b = embedder.tokenize([head + " apples", head + " an entirely different ending"])
    assert len(ids_a) == len(ids_b) == embedder.max_tokens == 256
    a, b = embedder.embed_sync([head + " apples", head + " an entirely different ending"])
    assert np.abs(a - b).max() < 1e-6


def test_no_texts_give_an_empty_array(embedder):
    vectors = embedder.embed_sync([])
    assert vectors.shape == (0, 384)


@pytest.mark.parametrize(
    "texts, message",
    [
        ("just a string", "texts must be a list of strings, not str"),
        (["fine", 42], "texts[1] is int, not a string"),
        (["fine", None], "texts[1] is NoneType, not a string"),
        ([b"bytes"], "texts[0] is bytes, not a string"),
        (["fine", ""], "texts[1] is empty; there is nothing to embed"),
        ([" \n\t"], "texts[0] is empty; there is nothing to embed"),
    ],
)
def test_input_that_is_not_a_list_of_strings_is_refused(embedder, texts, message):
    with pytest.raises(ProviderBadRequest, match=re.escape(message)) as caught:
        embedder.embed_sync(texts)
    assert caught.value.provider == "local"


def test_impossible_settings_are_refused():
    with pytest.raises(ProviderConfigError, match="batch_size must be at least 1"):
        LocalEmbedder(batch_size=0)
    with pytest.raises(ProviderConfigError, match="threads must be at least 1"):
        LocalEmbedder(threads=0)
    with pytest.raises(ProviderConfigError, match="precision must be one of auto, int8, fp32"):
        LocalEmbedder(precision="int4")  # type: ignore[arg-type]


async def test_async_face_returns_lists_of_floats_equal_to_the_sync_ones(cache_dir, embedder):
    # A fresh embedder, so that four concurrent first calls race to load the model.
    fresh = LocalEmbedder(cache_dir=cache_dir)
    batches = [PUBLISHED_SENTENCES, LONG_NEIGHBOURS, ["This is a test"], PUBLISHED_SENTENCES]
    results = await asyncio.gather(*(fresh.embed(b) for b in batches))
    for texts, result in zip(batches, results, strict=True):
        assert isinstance(result, list)
        assert all(isinstance(row, list) and len(row) == 384 for row in result)
        assert all(type(x) is float for x in result[0])
        np.testing.assert_allclose(result, embedder.embed_sync(texts), atol=1e-6)
    with pytest.raises(ProviderError):
        await fresh.embed([1.5])  # type: ignore[list-item]


def test_meets_the_embedder_protocol(embedder):
    assert isinstance(embedder, Embedder)
    assert embedder.model == "local:all-MiniLM-L6-v2"
    assert embedder.dim == 384


def test_the_built_graph_is_cached_under_a_digest_of_the_weights(cache_dir, embedder):
    embedder.embed_sync(["warm"])
    path = embedder.graph_path
    assert path is not None and path.parent == cache_dir
    assert path.name.startswith("all-MiniLM-L6-v2.g") and path.suffix == ".onnx"
    assert not list(cache_dir.glob("*.tmp"))  # no temp files left behind
    built_at = path.stat().st_mtime_ns
    again = LocalEmbedder(cache_dir=cache_dir)
    again.embed_sync(["warm"])
    assert again.graph_path == path
    assert path.stat().st_mtime_ns == built_at  # loaded, not rebuilt


def test_a_corrupt_cached_graph_is_rebuilt(tmp_path, embedder):
    embedder.embed_sync(["warm"])
    assert embedder.graph_path is not None
    torn = tmp_path / embedder.graph_path.name
    torn.write_bytes(b"\x08\x07 not an onnx model")
    fresh = LocalEmbedder(cache_dir=tmp_path)
    np.testing.assert_allclose(
        fresh.embed_sync(PUBLISHED_SENTENCES), embedder.embed_sync(PUBLISHED_SENTENCES), atol=1e-6
    )
    assert fresh.graph_path == torn
    assert torn.stat().st_size > 80_000_000


def test_an_unwritable_cache_dir_still_embeds_from_memory(tmp_path, embedder):
    blocker = tmp_path / "a-file"
    blocker.write_text("a file where the cache folder would go")
    fresh = LocalEmbedder(cache_dir=blocker / "models")
    np.testing.assert_allclose(
        fresh.embed_sync(["This is a test"]), embedder.embed_sync(["This is a test"]), atol=1e-6
    )
    assert fresh.graph_path is None


@pytest.mark.skipif(sys.platform != "linux", reason="network namespaces are a Linux feature")
def test_builds_and_embeds_with_no_network_at_all(tmp_path, embedder):
    # A child in a new network namespace has only a downed loopback: any attempt to reach a
    # model hub would fail. It builds the graph from scratch and embeds.
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from projections.providers.local_embedder import LocalEmbedder
        vectors = LocalEmbedder(cache_dir=Path({str(tmp_path)!r})).embed_sync(["This is a test"])
        json.dump(vectors[0].tolist(), sys.stdout)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "TRANSFORMERS_"))}
    result = subprocess.run(
        ["unshare", "--net", sys.executable, "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    np.testing.assert_allclose(
        json.loads(result.stdout), embedder.embed_sync(["This is a test"])[0], atol=1e-6
    )


def test_the_int8_variant_is_close_to_fp32_and_has_its_own_identity(cache_dir, embedder, int8):
    fp32, quantised = embedder.embed_sync(PUBLISHED_SENTENCES), int8.embed_sync(PUBLISHED_SENTENCES)
    assert int8.model == "local:all-MiniLM-L6-v2@int8" != embedder.model
    cosines = (fp32 * quantised).sum(axis=1)
    assert cosines.min() > 0.97
    assert not np.allclose(fp32, quantised, atol=1e-3)  # another model's vectors: never mixed
    np.testing.assert_allclose(np.linalg.norm(quantised, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(quantised @ quantised.T, PUBLISHED_SIMILARITIES, atol=0.05)
    assert int8.graph_path is not None and int8.graph_path.parent == cache_dir
    assert int8.graph_path != embedder.graph_path and ".int8." in int8.graph_path.name


def test_an_int8_vector_does_not_depend_on_its_neighbours(int8):
    # Dynamic quantisation scales by the whole input's range: each text runs alone.
    alone = int8.embed_sync([LONG_NEIGHBOURS[2]])[0]
    np.testing.assert_allclose(int8.embed_sync(LONG_NEIGHBOURS)[2], alone, atol=1e-6)


def test_auto_measures_once_and_keeps_the_choice(cache_dir, embedder, int8):
    embedder.embed_sync(["warm"])
    int8.embed_sync(["warm"])  # both graphs built: `auto` only times them
    auto = LocalEmbedder(cache_dir=cache_dir, precision="auto")
    variant = auto.resolve()
    choice = auto.choice
    assert choice is not None and choice["texts"] == 32
    faster = choice["int8_per_s"] >= 1.15 * choice["fp32_per_s"]
    assert variant == ("int8" if faster and choice["min_cosine"] >= 0.95 else "fp32")
    assert auto.model == ("local:all-MiniLM-L6-v2" + ("@int8" if variant == "int8" else ""))
    assert choice["key"]["threads"] == auto.threads and "flags" in choice["key"]
    (kept,) = cache_dir.glob("all-MiniLM-L6-v2.precision.*.json")
    # A second process reads the choice instead of measuring again (its rates would differ).
    again = LocalEmbedder(cache_dir=cache_dir, precision="auto")
    assert again.resolve() == variant and again.choice == choice
    other = "fp32" if variant == "int8" else "int8"
    kept.write_text(json.dumps({**choice, "precision": other}))
    assert LocalEmbedder(cache_dir=cache_dir, precision="auto").resolve() == other
