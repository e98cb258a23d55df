"""The fakes' other half: the answers our providers never ask for (whole JSON answers, OpenAI's
base64 embeddings, Gemini's single embedContent) still parse in each official SDK, so that the
gateway's tests can lean on them too."""

from __future__ import annotations

import anthropic
import httpx
import ollama
import openai
from google import genai
from google.genai import types

from tests.fakes import FakeAnthropic, FakeGemini, FakeOllama, FakeOpenAI, fake_vector

HELLO = [{"role": "user", "content": "hello there"}]


async def test_openai_whole_answers_and_base64_embeddings_parse_in_the_sdk():
    with FakeOpenAI(answer="Hi.") as fake:
        client = openai.AsyncOpenAI(api_key=fake.api_key, base_url=fake.base_url, max_retries=0)
        try:
            answer = await client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
            # Without encoding_format the SDK asks for base64 and decodes it itself.
            embedded = await client.embeddings.create(model="small", input=["a", "b"])
            models = await client.models.list()
        finally:
            await client.close()
    assert answer.choices[0].message.content == "Hi."
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (2, 1)
    assert [e.embedding for e in embedded.data] == [fake_vector("a", 8), fake_vector("b", 8)]
    assert fake.requests_to("/embeddings")[0].body["encoding_format"] == "base64"
    assert "gpt-4o-mini" in [m.id for m in models.data]


async def test_gemini_whole_answers_parse_and_embed_content_answers_one_vector():
    with FakeGemini(answer="Hi.") as fake:
        http = httpx.AsyncClient()
        client = genai.Client(
            api_key=fake.api_key,
            http_options=types.HttpOptions(base_url=fake.base_url, httpx_async_client=http),
        )
        try:
            answer = await client.aio.models.generate_content(
                model="gemini-2.5-flash", contents="hello there"
            )
            single = await http.post(
                fake.url + "/v1beta/models/text-embedding-004:embedContent",
                headers={"x-goog-api-key": fake.api_key},
                json={"content": {"parts": [{"text": "a"}]}},
            )
        finally:
            await http.aclose()
    assert answer.text == "Hi."
    assert answer.usage_metadata.prompt_token_count == 2
    assert single.json() == {"embedding": {"values": fake_vector("a", 768)}}


async def test_ollama_whole_answers_parse_in_the_sdk():
    with FakeOllama(answer="Hi.") as fake:
        client = ollama.AsyncClient(host=fake.base_url)
        try:
            answer = await client.chat(model="llama3.2", messages=HELLO, stream=False)
            tags = await client.list()
        finally:
            await client.close()
    assert answer.message.content == "Hi."
    assert (answer.prompt_eval_count, answer.eval_count) == (2, 1)
    assert "llama3.2:latest" in [m.model for m in tags.models]


async def test_anthropic_whole_answers_parse_in_the_sdk():
    with FakeAnthropic(answer="Hi.") as fake:
        client = anthropic.AsyncAnthropic(
            api_key=fake.api_key, base_url=fake.base_url, max_retries=0
        )
        try:
            answer = await client.messages.create(
                model="claude-sonnet-5-5", max_tokens=10, messages=HELLO
            )
        finally:
            await client.close()
    assert answer.content[0].text == "Hi."
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (2, 1)
