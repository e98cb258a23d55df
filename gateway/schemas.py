"""Public shapes shared by several resources (a resource's own shapes live in
gateway/schemas_<resource>.py).

`SpanPublic` and `UsagePublic` are the HTTP faces of the canonical `events.Span` and
`events.TokenUsage`: tests/gateway/test_gateway_schemas.py holds their fields (and those of every
copy the OpenAPI document shows) in step with the msgspec Structs.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

__all__ = [
    "EMAIL_PATTERN",
    "MAX_EMAIL_LENGTH",
    "Email",
    "MessageCitationPublic",
    "SpanPublic",
    "UsagePublic",
    "UserPublic",
    "WholeFloatsAsInt",
]

_NAME = r"[!-?A-~]{1,64}"  # printable ASCII but space and @, as many as RFC 5321 allows
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
_BLANKS = r"[ \t\r\n]*"
EMAIL_PATTERN = rf"^{_BLANKS}{_NAME}@{_LABEL}(?:\.{_LABEL})*{_BLANKS}$"
"""What the API takes for an e-mail address: a name, `@` and a host name, in ASCII, blanks
around it ignored. It is the accounts store's own check (engine/accounts/store.py,
`normalise_email`) written as a pattern, narrowed to ASCII so that Python, JavaScript and the Rust
regex crate read it alike; with `MAX_EMAIL_LENGTH` it is the whole of what the server checks.

The document says `pattern`, not `format: email`: the server has always taken an address with
blanks around it (it trims and lower-cases), and such a string is no RFC 5321 address."""
MAX_EMAIL_LENGTH = 254
"""The longest address (RFC 5321's path limit), blanks included."""
_EMAIL = re.compile(EMAIL_PATTERN)


def _check_email(value: str) -> str:
    if len(value) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(value):
        # The store's code and words: the answer is the same 422 `invalid_email` as ever.
        shown = value if len(value) <= 80 else value[:77] + "..."
        raise PydanticCustomError(
            "invalid_email", "not an e-mail address: '{shown}'", {"shown": shown}
        )
    return value


Email = Annotated[
    str,
    AfterValidator(_check_email),
    Field(
        description=(
            "An e-mail address, any case, blanks around it ignored: at most 64 characters "
            f"before the @ and {MAX_EMAIL_LENGTH} in all."
        ),
        json_schema_extra={"pattern": EMAIL_PATTERN, "maxLength": MAX_EMAIL_LENGTH},
    ),
]
"""An e-mail address in a request; the document states the check the server makes."""


def _whole_number(value: object) -> object:
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeFloatsAsInt = BeforeValidator(_whole_number)
"""For an integer of a strict request model, after its constraints
(`Annotated[int, Field(ge=1), WholeFloatsAsInt]`): JSON Schema counts 3.0 as the integer 3, so
it is taken; 3.5, "3" and true are still refused. (Before the constraints it would hide them from
the document.)"""


class UserPublic(BaseModel):
    """A user as others may see them: no password hash, no tokens."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    """The user's id (a ULID)."""
    email: str
    """Normalised e-mail address (lower-case)."""
    name: str
    """Display name; may be empty."""
    created_at: int
    """Unix ms of sign-up."""


class SpanPublic(BaseModel):
    """Where a passage sits in its source's extracted text (`events.Span`)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    start: int
    """Offset of its first character (code points)."""
    end: int
    """Offset one past its last character."""
    page: int | None = None
    """The page it starts on, where the format has pages."""
    heading: str | None = None
    """The nearest heading above it, where the format has headings."""


class UsagePublic(BaseModel):
    """Tokens an answer cost, as the provider counted them (`events.TokenUsage`)."""

    model_config = ConfigDict(use_attribute_docstrings=True, from_attributes=True)

    prompt: int
    """Tokens sent."""
    completion: int
    """Tokens received."""


class MessageCitationPublic(BaseModel):
    """A passage a recorded answer cited (`events.Citation`, its span gathered, its source named)."""

    model_config = ConfigDict(use_attribute_docstrings=True)

    source: str
    """Source id."""
    source_name: str
    """The source's name ("" when it is not known)."""
    chunk: str
    """Chunk hash."""
    span: SpanPublic
