"""Rate limits per token and per address: 429 with Retry-After in the JSON error shape."""

from __future__ import annotations

import pytest
from gateway_support import assert_error, bearer, sign_up

from engine.settings import Limits
from gateway.ratelimit import RateLimiter, bearer_token


@pytest.fixture
def limits() -> Limits:
    return Limits(requests_per_minute_token=5, requests_per_minute_address=3)


class SteppedClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_burst_then_refills_at_the_rate():
    clock = SteppedClock()
    limiter = RateLimiter(6, clock=clock)  # one request every 10 s, bursts of 6
    assert [limiter.acquire("a") for _ in range(6)] == [0.0] * 6
    assert limiter.acquire("a") == pytest.approx(10.0)
    assert limiter.acquire("b") == 0.0  # keys are independent
    clock.now += 5
    assert limiter.acquire("a") == pytest.approx(5.0)  # half a request refilled
    clock.now += 5
    assert limiter.acquire("a") == 0.0
    clock.now += 3600  # a long pause refills to the burst size, not beyond
    assert [limiter.acquire("a") for _ in range(7)].count(0.0) == 6


def test_a_limit_of_zero_is_off_and_a_negative_one_is_refused():
    limiter = RateLimiter(0)
    assert all(limiter.acquire("a") == 0.0 for _ in range(1000))
    assert len(limiter) == 0
    with pytest.raises(ValueError, match="negative"):
        RateLimiter(-1)


def test_the_limiter_forgets_keys_beyond_its_bound():
    clock = SteppedClock()
    limiter = RateLimiter(60, clock=clock, max_keys=100)
    for i in range(1000):
        limiter.acquire(f"k{i}")
    assert len(limiter) <= 100
    # The most recent keys are kept (still charged), the oldest forgotten.
    assert limiter.acquire("k999") == 0.0


def test_bearer_token_is_read_from_raw_headers():
    assert bearer_token([(b"authorization", b"Bearer rs_abc")]) == "rs_abc"
    assert bearer_token([(b"Authorization", b"bearer   rs_abc ")]) == "rs_abc"
    assert bearer_token([(b"authorization", b"Basic abc")]) is None
    assert bearer_token([(b"authorization", b"Bearer ")]) is None
    assert bearer_token([]) is None


async def test_an_address_over_its_limit_gets_429_with_retry_after(make_client):
    async with make_client(address="10.0.0.1") as client:
        for _ in range(3):
            assert (await client.get("/v1/info")).status_code == 200
        response = await client.get("/v1/info")
        error = assert_error(response, 429, "rate_limited")
        retry_after = int(response.headers["retry-after"])
        assert 1 <= retry_after <= 20  # 3 a minute: one back every 20 s
        assert "address" in error["message"]
    # Another address is not affected.
    async with make_client(address="10.0.0.2") as other:
        assert (await other.get("/v1/info")).status_code == 200


async def test_a_token_over_its_limit_gets_429_and_other_tokens_do_not(make_client):
    async with make_client(address="10.0.0.3") as client:
        ada = await sign_up(client)  # charged to the address (1 of 3)
        bob = await sign_up(client, email="bob@example.org")  # 2 of 3
    async with make_client(address="10.0.0.4") as client:
        for _ in range(5):
            assert (await client.get("/v1/me", headers=bearer(ada))).status_code == 200
        response = await client.get("/v1/me", headers=bearer(ada))
        assert "token" in assert_error(response, 429, "rate_limited")["message"]
        assert int(response.headers["retry-after"]) >= 1
        # Bob's token, from the same address, still works: token requests do not use the
        # address's budget.
        for _ in range(5):
            assert (await client.get("/v1/me", headers=bearer(bob))).status_code == 200


async def test_fresh_garbage_tokens_run_into_the_address_limit(make_client):
    async with make_client(address="10.0.0.5") as client:
        statuses = [
            (await client.get("/v1/me", headers=bearer(f"rs_guess{i}"))).status_code
            for i in range(6)
        ]
    # Each guess has a bucket of its own, but a failed one also costs the address (3 a minute).
    assert statuses[:3] == [401, 401, 401]
    assert statuses[3:] == [429, 429, 429]


async def test_health_and_metrics_are_never_limited(make_client):
    async with make_client(address="10.0.0.6") as client:
        for _ in range(10):
            assert (await client.get("/health")).status_code == 200
            assert (await client.get("/metrics")).status_code == 200
        # ... and they used none of the address's budget.
        assert (await client.get("/v1/info")).status_code == 200
