"""What is particular to Ollama: reachability for the default answerer, a local server without
keys, model tags, and errors reported inside the stream."""

from __future__ import annotations

import socket
import time
from contextlib import aclosing

import pytest

from projections.providers import (
    NO_RETRY,
    ChatMessage,
    OllamaChat,
    OllamaEmbedder,
    ProviderBadRequest,
    ProviderUnavailable,
    ollama_reachable,
    ollama_url,
)
from tests.fakes import FakeOllama, FakeOpenAI, pieces
from tests.projections.providers.provider_cases import FAST_TIMEOUTS, raised

HELLO = [ChatMessage(role="user", content="hello")]


async def test_a_running_ollama_is_reachable():
    with FakeOllama() as fake:
        assert await ollama_reachable(fake.base_url)


async def test_a_closed_port_or_another_server_is_not_ollama(free_port_url: str):
    assert not await ollama_reachable(free_port_url)
    with FakeOpenAI() as other:
        assert not await ollama_reachable(other.url)


async def test_reachability_gives_up_on_a_silent_server_within_its_timeout():
    # A socket that accepts connections (the backlog does) but never answers.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        host, port = silent.getsockname()
        started = time.monotonic()
        assert not await ollama_reachable(f"http://{host}:{port}", timeout=0.3)
        assert time.monotonic() - started < 3


def test_the_url_follows_ollamas_conventions(monkeypatch):
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    assert ollama_url() == "http://127.0.0.1:11434"
    assert ollama_url("gpu-box:11434/") == "http://gpu-box:11434"
    monkeypatch.setenv("OLLAMA_HOST", "0.0.0.0:9999")
    assert ollama_url() == "http://0.0.0.0:9999"
    assert ollama_url("https://ollama.example") == "https://ollama.example"


async def test_a_local_server_gets_no_authorization_header(monkeypatch):
    monkeypatch.delenv("OLLAMA_API_KEY", raising=False)
    with FakeOllama() as fake:
        async with aclosing(
            OllamaChat("llama3.2", base_url=fake.base_url, timeouts=FAST_TIMEOUTS)
        ) as llm:
            await llm.complete(HELLO, max_tokens=33, temperature=0.7)
    [request] = fake.requests_to("/api/chat")
    assert "authorization" not in request.headers
    assert request.body["options"] == {"num_predict": 33, "temperature": 0.7}


async def test_an_error_line_inside_the_stream_is_unavailable():
    with FakeOllama() as fake:
        fake.error_line_after_chunks = 2
        llm = OllamaChat("llama3.2", base_url=fake.base_url, retry=NO_RETRY)
        deltas = []
        try:
            with pytest.raises(ProviderUnavailable, match="llama runner process has terminated"):
                async for item in llm.stream(HELLO):
                    deltas.append(item)
        finally:
            await llm.aclose()
    assert deltas == pieces(fake.answer)[:2]


async def test_a_model_not_pulled_says_how_to_get_it():
    with FakeOllama() as fake:
        fake.models = {"llama3.2"}
        llm = OllamaChat("mistral", base_url=fake.base_url, retry=NO_RETRY)
        await raised(ProviderBadRequest, llm, llm.complete(HELLO), match="ollama pull")


async def test_the_latest_tag_is_one_cache_key_with_the_bare_name():
    with FakeOllama() as fake:
        tagged = OllamaEmbedder("nomic-embed-text:latest", base_url=fake.base_url)
        bare = OllamaEmbedder("nomic-embed-text", base_url=fake.base_url)
        try:
            assert tagged.model == bare.model == "ollama:nomic-embed-text"
            assert await tagged.embed(["x"]) == await bare.embed(["x"])
        finally:
            await tagged.aclose()
            await bare.aclose()
