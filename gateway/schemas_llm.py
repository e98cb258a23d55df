"""The shapes of a book's LLM settings (PUT/GET /v1/books/{book}/llm).

The request's schema says everything the server checks without looking at stored state, so that
a client generated from the document, or a fuzzer, never sends settings it believes valid and
gets a 422: printable names, an http(s) URL without credentials or query, a key without spaces,
and a key for every kind that bills someone at its public endpoint. What the gateway checks here
answers 422 `invalid_argument`, as projections/book_llms.py does for the same faults.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr
from pydantic_core import PydanticCustomError

__all__ = [
    "API_KEY_PATTERN",
    "BASE_URL_PATTERN",
    "MODEL_PATTERN",
    "ApiKey",
    "BaseUrl",
    "LLMSettingsPublic",
    "LLMSettingsUpdate",
    "full_match",
]

MODEL_PATTERN = r"^[ -~]*$"
"""A model name: printable ASCII (blank picks the provider's default)."""
API_KEY_PATTERN = r"^[!-~]*$"
"""An API key: printable ASCII without spaces (it travels in an HTTP header)."""
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_PATH = r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?"
BASE_URL_PATTERN = rf"^(?:https?://{_LABEL}(?:\.{_LABEL})*(?::{_PORT})?{_PATH})?$"
"""An http(s) URL: a host name or IPv4 address, an optional port and path; no credentials, query
or fragment (those would show a secret to every member). Empty means the public endpoint."""


def full_match(pattern: str, what: str) -> AfterValidator:
    """A validator refusing a value (or a secret's value) that `pattern` does not match, with
    `what` as the message, never the value (it may be a key)."""
    compiled = re.compile(pattern)

    def check(value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if isinstance(text, str) and not compiled.fullmatch(text):
            # Never the value itself: it may be a key.
            raise PydanticCustomError("invalid_argument", what)
        return value

    return AfterValidator(check)


_NEEDS_KEY = {
    "required": ["api_key"],
    "properties": {"api_key": {"type": "string", "minLength": 1}},
}
_PUBLIC_ENDPOINT = {"enum": [None, ""]}


BaseUrl = Annotated[
    str | None,
    Field(max_length=2000, json_schema_extra={"pattern": BASE_URL_PATTERN}),
    full_match(
        BASE_URL_PATTERN,
        "base_url must be an http:// or https:// URL with a host, "
        "without credentials, query or fragment",
    ),
]
"""A service's base URL in a settings request: http(s), a host, no credentials, query or fragment."""
ApiKey = Annotated[
    SecretStr | None,
    Field(max_length=4096, json_schema_extra={"pattern": API_KEY_PATTERN}),
    full_match(API_KEY_PATTERN, "api_key must be printable ASCII without spaces"),
]
"""A service's key in a settings request: printable ASCII, no spaces; stored encrypted."""


class LLMSettingsUpdate(BaseModel):
    """The LLM a book's questions go to.

    openai and anthropic at their public endpoint (no `base_url`), and gemini anywhere, need an
    `api_key` (projections/book_llms.py refuses them without one; gemini elsewhere unless the
    server has GEMINI_API_KEY). It may be left out only to keep a key already stored for the same
    kind and URL: the one thing the document cannot say, as it depends on what is stored.
    """

    model_config = ConfigDict(
        use_attribute_docstrings=True,
        extra="forbid",
        strict=True,
        json_schema_extra={
            "if": {
                "required": ["kind"],
                "anyOf": [
                    {"properties": {"kind": {"const": "gemini"}}},
                    {
                        "properties": {
                            "kind": {"enum": ["openai", "anthropic"]},
                            "base_url": _PUBLIC_ENDPOINT,
                        }
                    },
                ],
            },
            "then": _NEEDS_KEY,
        },
    )

    kind: Literal["openai", "gemini", "ollama", "anthropic", "extractive"]
    """The API spoken: openai (also any OpenAI-compatible server), gemini, ollama, anthropic; or
    extractive (no LLM: answers are the best passages, cited)."""
    model: Annotated[
        str,
        Field(max_length=200, json_schema_extra={"pattern": MODEL_PATTERN}),
        full_match(MODEL_PATTERN, "model must be printable ASCII"),
    ] = ""
    """The provider's model name; empty picks the provider's default."""
    base_url: BaseUrl = None
    """Where the API is (an OpenAI-compatible server's URL ends in /v1); null or "" for the
    provider's public endpoint. No credentials or query in it: the key goes in `api_key`."""
    api_key: ApiKey = None
    """The key, stored encrypted and never shown again. Leave it out to keep the stored key (kept
    only while kind and base_url stay the same); null or "" for no key."""


class LLMSettingsPublic(BaseModel):
    """What answers a book's questions (never the key)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    source: Literal["book", "server", "none"]
    """book: the book's own settings; server: the server's default; none: extractive answers."""
    kind: str
    """openai, gemini, ollama, anthropic or extractive."""
    model: str
    """The model name (empty for extractive)."""
    base_url: str | None = None
    """The book's API URL; null for a public endpoint or the server's default."""
    has_api_key: bool = False
    """Whether the book has a key stored."""
