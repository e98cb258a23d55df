"""The read side's configuration sections: the embedding and answering providers, and the vector
index (`[embedder]`, `[llm]`, `[vectors]` in `ragstack.toml`, decoded by app/settings.py)."""

import msgspec


class ProviderSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An embedding or answering provider."""

    kind: str = "auto"
    """local, openai, gemini, ollama, anthropic, extractive, or auto (the embedded default)."""
    model: str | None = None
    """Model name; None picks the provider's default."""
    base_url: str | None = None
    """API base URL (OpenAI-compatible servers, Ollama host, tests)."""
    api_key: str | None = None
    """API key; prefer the environment (`RAGSTACK_LLM_API_KEY`) to the file."""


class EmbedderSettings(ProviderSettings, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The embedding provider (`[embedder]`): a provider, and the bundled model's precision."""

    precision: str = "auto"
    """The bundled model's variant (kind auto or local): fp32, int8, or auto — int8 where a
    measurement made once on the machine finds it faster with vectors close to fp32's
    (projections/providers/local_embedder.py). The variant is part of the embedder's identity:
    changing it, or moving the data to a CPU where auto chooses otherwise, re-embeds every
    chapter (once per chapter, as it is next folded), never mixes the two."""
    models_dir: str | None = None
    """Where the bundled model's built graphs and its precision choice are kept (default
    `<data>/models`). Building them takes seconds; data directories on one machine may share one
    folder (the test suite does, through `RAGSTACK_EMBEDDER_MODELS_DIR`)."""


class VectorSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The vector index."""

    kind: str = "chroma"
    """chroma (embedded, or a server when `url` is set) or pinecone."""
    url: str | None = None
    """Server URL (Chroma server) or index host (Pinecone)."""
    api_key: str | None = None
    """API key where the backend needs one."""


class RerankSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A rerank service (Cohere's or Jina's API shape; projections/providers/rerank.py)."""

    kind: str = "none"
    """none (no reranking), cohere or jina."""
    base_url: str | None = None
    """The service's base URL (the kind's path is added: `/v2/rerank`, `/v1/rerank`)."""
    model: str | None = None
    """The rerank model's name."""
    api_key: str | None = None
    """API key; prefer the environment (`RAGSTACK_RERANK_API_KEY`) to the file."""
    depth: int = 30
    """Passages retrieved for the service to reorder (the best `k` of them are kept)."""
