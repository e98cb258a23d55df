"""The providers and the vector index that the settings name, made ready to use.

    embedder = embedder_from(settings.embedder, settings)   # the bundled offline model by default
    llm = await llm_from(settings.llm)                      # Ollama when reachable, else None
    index = index_from(settings.vectors, settings)          # Chroma in the data directory

None of these opens a connection to a remote service: a wrong key or an unreachable server is
reported by the first call that needs it.
"""

from pathlib import Path

from app.settings import ConfigError, Settings
from projections.embedding_cache import Embedder
from projections.providers import LLM, ProviderConfig, make_embedder, make_llm
from projections.providers.errors import ProviderConfigError
from projections.providers.rerank import Reranker
from projections.settings import (
    EmbedderSettings,
    ProviderSettings,
    RerankSettings,
    VectorSettings,
)
from projections.vectorstores import VectorIndex

__all__ = ["DEFAULT_MODELS", "embedder_from", "index_from", "llm_from"]

DEFAULT_MODELS = {
    "embed": {
        "openai": "text-embedding-3-small",
        "gemini": "gemini-embedding-001",
        "ollama": "nomic-embed-text",
    },
    "chat": {
        "openai": "gpt-4o-mini",
        "gemini": "gemini-2.5-flash",
        "ollama": "llama3.2",
        "anthropic": "claude-sonnet-4-5",
    },
}


def embedder_from(settings: EmbedderSettings, settings_dir: Settings) -> Embedder:
    """The configured embedder; `auto` and `local` are the offline MiniLM model, in the
    configured precision (ConfigError for an unknown one)."""
    if settings.kind in ("auto", "local"):
        from projections.providers.local_embedder import PRECISIONS, LocalEmbedder

        if settings.precision not in PRECISIONS:
            raise ConfigError(
                f"embedder.precision must be one of {', '.join(PRECISIONS)}, "
                f"not {settings.precision!r}"
            )
        return LocalEmbedder(
            cache_dir=Path(settings.models_dir)
            if settings.models_dir
            else settings_dir.data / "models",
            precision=settings.precision,  # type: ignore[arg-type]
        )
    model = settings.model or DEFAULT_MODELS["embed"].get(settings.kind, "")
    return make_embedder(
        ProviderConfig(
            kind=settings.kind,  # type: ignore[arg-type]
            model=model,
            base_url=settings.base_url,
            api_key=settings.api_key,
        )
    )


async def llm_from(settings: ProviderSettings) -> LLM | None:
    """The configured answerer; `auto` is Ollama when reachable, else None (extractive)."""
    if settings.kind == "extractive":
        return None
    if settings.kind == "auto":
        from projections.providers import ollama_reachable

        if not await ollama_reachable(settings.base_url):
            return None
        kind = "ollama"
    else:
        kind = settings.kind
    model = settings.model or DEFAULT_MODELS["chat"].get(kind, "")
    return make_llm(
        ProviderConfig(
            kind=kind,  # type: ignore[arg-type]
            model=model,
            base_url=settings.base_url,
            api_key=settings.api_key,
        )
    )


def index_from(settings: VectorSettings, data: Settings) -> VectorIndex:
    """The configured vector index; Chroma embedded in the data directory by default."""
    if settings.kind == "chroma":
        from projections.vectorstores.chroma import ChromaIndex

        if settings.url:
            return ChromaIndex.http(settings.url)
        return ChromaIndex.embedded(data.data / "chroma")
    if settings.kind == "pinecone":
        try:
            from projections.vectorstores.pinecone import PineconeIndex
        except ImportError:
            raise ConfigError(
                "the pinecone index needs the 'pinecone' extra: pip install 'ragstack[pinecone]'"
            ) from None
        if not settings.url or not settings.api_key:
            raise ConfigError(
                "the pinecone index needs vectors.url (the index host) and an api_key"
            )
        return PineconeIndex(settings.url, settings.api_key)
    raise ConfigError(f"unknown vector index kind {settings.kind!r}; expected chroma or pinecone")


def reranker_from(settings: RerankSettings) -> Reranker | None:
    """The configured rerank service, or None (`kind = "none"`). ProviderConfigError when the
    settings cannot work (an unknown kind, no model, no base URL)."""
    if settings.kind == "none":
        return None
    if not settings.base_url or not settings.model:
        raise ProviderConfigError(settings.kind, "[rerank] needs base_url and model")
    return Reranker(
        kind=settings.kind, base_url=settings.base_url, model=settings.model,
        api_key=settings.api_key,
    )  # fmt: skip
