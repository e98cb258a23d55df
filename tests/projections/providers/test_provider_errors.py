"""The error family and the retry policy shared by every provider."""

from __future__ import annotations

import pytest

from projections.providers import (
    ProviderAuthError,
    ProviderBadRequest,
    ProviderError,
    ProviderRateLimited,
    ProviderUnavailable,
    RetryPolicy,
)
from projections.providers._common import status_error, with_retries
from projections.providers.errors import redact


def test_a_message_is_scrubbed_of_the_key_and_kept_short():
    key = "sk-proj-abcdef0123456789"
    error = ProviderAuthError(
        "openai", f"bad key {key}\n\n<html>{'x' * 2000}</html>", status=401, secret=key
    )
    assert key not in str(error) and key not in repr(error)
    assert "bad key *** <html>" in error.message  # whitespace folded, key replaced
    assert len(error.message) <= 400
    assert str(error).startswith("openai: bad key") and str(error).endswith("(HTTP 401)")


def test_redact_leaves_text_alone_without_a_real_secret():
    assert redact("a b c", None, "", "a") == "a b c"
    assert redact("key=abcd1234, again abcd1234", "abcd1234") == "key=***, again ***"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (429, ProviderRateLimited),
        (500, ProviderUnavailable),
        (502, ProviderUnavailable),
        (529, ProviderUnavailable),
        (400, ProviderBadRequest),
        (404, ProviderBadRequest),
        (413, ProviderBadRequest),
    ],
)
def test_one_status_table_for_every_provider(status, cls):
    error = status_error("gemini", status, "why", secret=None, retry_after=2.0)
    assert type(error) is cls
    assert isinstance(error, ProviderError)
    assert (error.provider, error.status) == ("gemini", status)


def test_a_rate_limit_says_when_to_come_back():
    error = ProviderRateLimited("anthropic", "slow down", retry_after=12.5)
    assert str(error) == "anthropic: slow down (HTTP 429); retry after 12.5 s"
    assert "retry_after=12.5" in repr(error)


def test_the_retry_policy_retries_only_what_another_try_can_cure():
    policy = RetryPolicy(retries=2, base_delay=1.0, max_delay=10.0)
    down = ProviderUnavailable("openai", "down")
    assert 0.5 <= policy.delay(1, down) <= 1.0  # type: ignore[operator]
    assert 1.0 <= policy.delay(2, down) <= 2.0  # type: ignore[operator]
    assert policy.delay(3, down) is None  # retries used up
    assert policy.delay(1, ProviderAuthError("openai", "no")) is None
    assert policy.delay(1, ProviderBadRequest("openai", "no")) is None
    # A 429 waits as long as the server asked, unless that is longer than we would wait.
    assert policy.delay(1, ProviderRateLimited("openai", "x", retry_after=3)) == 3
    assert policy.delay(1, ProviderRateLimited("openai", "x", retry_after=60)) is None


async def test_with_retries_stops_at_the_first_success():
    calls = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 2:
            raise ProviderUnavailable("ollama", "starting")
        return "ok"

    assert await with_retries(RetryPolicy(retries=3, base_delay=0.001), flaky) == "ok"
    assert len(calls) == 2
