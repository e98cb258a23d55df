"""The document and the server agree: what a 405 allows, which e-mails and LLM settings are valid.

Each test asks the server and the OpenAPI document the same question and expects one answer.
"""

from __future__ import annotations

from typing import Any

import pytest
from gateway_support import assert_error, bearer, sign_up
from jsonschema import Draft202012Validator

METHODS = {"get", "head", "post", "put", "patch", "delete", "options"}


async def _document(client) -> dict[str, Any]:
    return (await client.get("/openapi.json")).json()


def _validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    # The schemas checked here hold no $ref, so each validates on its own.
    return Draft202012Validator(document["components"]["schemas"][name])


@pytest.mark.parametrize(
    ("path", "documented"),
    [
        ("/v1/books", "/v1/books"),
        ("/v1/auth/tokens", "/v1/auth/tokens"),
        ("/v1/chapters/01abc", "/v1/chapters/{chapter}"),
        ("/v1/chapters/01abc/sources", "/v1/chapters/{chapter}/sources"),
        ("/v1/chapters/01abc/threads", "/v1/chapters/{chapter}/threads"),
        ("/v1/books/01abc/llm", "/v1/books/{book}/llm"),
    ],
)
async def test_a_405_allows_every_method_the_path_serves(client, path, documented):
    document = await _document(client)
    served = {m.upper() for m in document["paths"][documented] if m in METHODS}
    assert len(served) > 1  # a path where one route per method used to hide the others

    response = await client.request("OPTIONS", path)

    assert_error(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert allowed == served


async def test_a_405_on_a_path_with_one_method_allows_just_that(client):
    response = await client.post("/v1/me/export")
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    "email",
    ["not an address", "", "@example.org", "ada@", "ada@@example.org", "ada@-x.org", "ad a@x.org"],
)
async def test_a_malformed_email_is_422_and_the_document_says_so(client, email):
    schema = _validator(await _document(client), "SignupRequest")
    body = {"email": email, "password": "correct horse battery"}
    assert not schema.is_valid(body)

    response = await client.post("/v1/auth/signup", json=body)

    assert_error(response, 422, "invalid_email")


@pytest.mark.parametrize(
    "email", ["ada@example.org", " Ada@Example.ORG\n", "a.b+c_d@mail-1.example", "x@localhost"]
)
async def test_a_wellformed_email_is_taken_and_the_document_says_so(client, email):
    schema = _validator(await _document(client), "SignupRequest")
    body = {"email": email, "password": "correct horse battery"}
    assert schema.is_valid(body)

    response = await client.post("/v1/auth/signup", json=body)

    assert response.status_code == 201, response.text


async def test_the_email_pattern_is_in_signup_login_and_invitations(client):
    document = await _document(client)
    patterns = {
        document["components"]["schemas"][name]["properties"]["email"]["pattern"]
        for name in ("SignupRequest", "LoginRequest", "MemberCreate")
    }
    assert len(patterns) == 1


async def _own_book(client) -> tuple[str, dict[str, str]]:
    headers = bearer(await sign_up(client))
    books = (await client.get("/v1/books", headers=headers)).json()["books"]
    return books[0]["id"], headers


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "openai"},
        {"kind": "anthropic", "base_url": None},
        {"kind": "gemini", "base_url": "http://127.0.0.1:9/v1"},
        {"kind": "openai", "api_key": ""},
        {"kind": "anthropic", "api_key": None},
    ],
)
async def test_a_hosted_llm_without_a_key_is_422_and_the_document_requires_one(
    client, body, monkeypatch
):
    for name in ("GEMINI_API_KEY", "GOOGLE_API_KEY"):  # the server's own key would stand in
        monkeypatch.delenv(name, raising=False)
    schema = _validator(await _document(client), "LLMSettingsUpdate")
    assert not schema.is_valid(body)
    book, headers = await _own_book(client)

    response = await client.put(f"/v1/books/{book}/llm", json=body, headers=headers)

    # The rule's words (invalid_argument), or Gemini's client's own (provider_config).
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] in {"invalid_argument", "provider_config"}


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "openai", "api_key": "sk-test-0000"},
        {"kind": "gemini", "api_key": "g-0000", "model": "gemini-2.0-flash"},
        {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"},
        {"kind": "anthropic", "base_url": "https://llm.example.org:8443/anthropic"},
        {"kind": "ollama"},
        {"kind": "extractive"},
    ],
)
async def test_llm_settings_the_document_takes_are_taken(client, body):
    schema = _validator(await _document(client), "LLMSettingsUpdate")
    assert schema.is_valid(body)
    book, headers = await _own_book(client)

    response = await client.put(f"/v1/books/{book}/llm", json=body, headers=headers)

    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"kind": "openai", "api_key": "has space"},
        {"kind": "openai", "api_key": "k", "base_url": "ftp://x"},
        {"kind": "openai", "api_key": "k", "base_url": "http://u:p@h/v1"},
        {"kind": "openai", "api_key": "k", "base_url": "http://h/v1?key=1"},
        {"kind": "openai", "api_key": "k", "base_url": "http://h:99999"},
        {"kind": "ollama", "model": "bad\tname"},
    ],
)
async def test_llm_settings_the_document_refuses_are_refused(client, body):
    schema = _validator(await _document(client), "LLMSettingsUpdate")
    assert not schema.is_valid(body)
    book, headers = await _own_book(client)

    response = await client.put(f"/v1/books/{book}/llm", json=body, headers=headers)

    assert_error(response, 422, "invalid_argument")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/auth/tokens", {"ttl_s": "60"}),
        ("/v1/auth/tokens", {"ttl_s": True}),
        ("/v1/auth/tokens", {"name": 5}),
        ("/v1/books", {"name": 7}),
    ],
)
async def test_a_value_of_the_wrong_json_type_is_refused_not_coerced(client, path, body):
    headers = bearer(await sign_up(client))
    assert_error(await client.post(path, json=body, headers=headers), 422, "validation_error")


async def test_a_whole_number_written_as_a_float_is_an_integer(client):
    headers = bearer(await sign_up(client))
    response = await client.post("/v1/auth/tokens", json={"ttl_s": 60.0}, headers=headers)
    assert response.status_code == 201, response.text
