"""Fake servers for the remote AI providers, each a real HTTP server on loopback that speaks its
API's wire format (see base.py for the knobs). Reused by the provider tests and the gateway's.

    with FakeOpenAI(answer="Paris.") as fake:
        llm = make_llm(ProviderConfig(kind="openai", model="gpt-4o-mini",
                                      base_url=fake.base_url, api_key=fake.api_key))
"""

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.base import (
    DEFAULT_ANSWER,
    FakeServer,
    Recorded,
    assert_secret_hidden,
    count_tokens,
    fake_vector,
    pieces,
)
from tests.fakes.gemini import FakeGemini
from tests.fakes.ollama import FakeOllama
from tests.fakes.openai import FakeOpenAI

__all__ = [
    "DEFAULT_ANSWER",
    "FakeAnthropic",
    "FakeGemini",
    "FakeOllama",
    "FakeOpenAI",
    "FakeServer",
    "Recorded",
    "assert_secret_hidden",
    "count_tokens",
    "fake_vector",
    "pieces",
]
