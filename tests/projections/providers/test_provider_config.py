"""Provider settings and the factories: the right client for each kind, clear refusals, and a
config that can be logged without its key."""

from __future__ import annotations

import re
import subprocess
import sys
from contextlib import aclosing

import msgspec
import pytest

import projections.providers as providers
from projections.providers import (
    LLM,
    AnthropicChat,
    Embedder,
    GeminiChat,
    GeminiEmbedder,
    OllamaChat,
    OllamaEmbedder,
    OpenAIChat,
    OpenAIEmbedder,
    ProviderConfig,
    ProviderConfigError,
    ProviderUnavailable,
    make_embedder,
    make_llm,
)

KEY = "sk-config-secret-424242"


@pytest.mark.parametrize(
    ("kind", "model", "cls"),
    [
        ("openai", "gpt-4o-mini", OpenAIChat),
        ("gemini", "gemini-2.5-flash", GeminiChat),
        ("ollama", "llama3.2", OllamaChat),
        ("anthropic", "claude-sonnet-5-5", AnthropicChat),
    ],
)
async def test_make_llm_builds_each_kind(kind, model, cls):
    async with aclosing(make_llm(ProviderConfig(kind=kind, model=model, api_key=KEY))) as llm:
        assert type(llm) is cls
        assert isinstance(llm, LLM)
        assert llm.name == f"{kind}:{model}"
        assert KEY not in repr(llm)


@pytest.mark.parametrize(
    ("kind", "model", "cls", "dim"),
    [
        ("openai", "text-embedding-3-large", OpenAIEmbedder, 3072),
        ("gemini", "gemini-embedding-001", GeminiEmbedder, 3072),
        ("ollama", "mxbai-embed-large", OllamaEmbedder, 1024),
    ],
)
async def test_make_embedder_builds_each_kind(kind, model, cls, dim):
    embedder = make_embedder(ProviderConfig(kind=kind, model=model, api_key=KEY))
    try:
        assert type(embedder) is cls
        assert isinstance(embedder, Embedder)
        assert (embedder.model, embedder.dim) == (f"{kind}:{model}", dim)
    finally:
        await embedder.aclose()  # type: ignore[attr-defined]


def test_anthropic_has_no_embedder():
    with pytest.raises(ProviderConfigError, match="no embedding API"):
        make_embedder(ProviderConfig(kind="anthropic", model="claude-sonnet-5-5", api_key=KEY))


def test_an_unknown_kind_or_an_empty_model_is_refused():
    with pytest.raises(ProviderConfigError, match="unknown provider kind 'mistral'"):
        make_llm(ProviderConfig(kind="mistral", model="m"))  # type: ignore[arg-type]
    with pytest.raises(ProviderConfigError, match="no model name"):
        make_llm(ProviderConfig(kind="ollama", model="  "))


def test_a_config_decodes_from_settings_and_never_shows_its_key():
    cfg = msgspec.convert(
        {"kind": "openai", "model": "gpt-4o-mini", "base_url": None, "api_key": KEY},
        ProviderConfig,
    )
    assert cfg.api_key == KEY
    for shown in (repr(cfg), str(cfg), f"{cfg}", repr([cfg])):
        assert KEY not in shown
    assert "api_key='***'" in repr(cfg)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"kind": "cohere", "model": "x"}, ProviderConfig)


def test_the_package_loads_provider_classes_on_first_use():
    assert providers.OpenAIChat is OpenAIChat
    with pytest.raises(AttributeError):
        _ = providers.NoSuchProvider


@pytest.mark.parametrize(
    ("kind", "sdk", "chat"),
    [
        ("openai", "openai", "OpenAIChat"),
        ("gemini", "google.genai", "GeminiChat"),
        ("ollama", "ollama", "OllamaChat"),
        ("anthropic", "anthropic", "AnthropicChat"),
    ],
)
def test_a_missing_sdk_names_the_extra_to_install(monkeypatch, kind, sdk, chat):
    # A slim install without this provider's extra: its SDK cannot be imported, and neither can
    # the provider's module, which has to be imported afresh to notice.
    monkeypatch.setitem(sys.modules, sdk, None)
    monkeypatch.delitem(sys.modules, f"projections.providers.{kind}_provider")
    cfg = ProviderConfig(kind=kind, model="some-model", api_key=KEY)
    extra = f"the {kind} provider needs the '{kind}' extra: pip install 'ragstack[{kind}]'"
    with pytest.raises(ProviderUnavailable) as caught:
        make_llm(cfg)
    assert caught.value.message == extra
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    with pytest.raises(ProviderUnavailable, match=re.escape(extra)):
        getattr(providers, chat)


def test_importing_the_package_imports_no_provider_sdk():
    # The SDKs are extras: the package, the factories and ollama_reachable must load without them.
    code = (
        "import sys, projections.providers as p; p.ollama_reachable; "
        "print(sorted(m for m in ('openai', 'anthropic', 'ollama', 'google.genai') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
