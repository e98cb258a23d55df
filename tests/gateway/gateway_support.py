"""Helpers for the gateway tests (imported by the test modules: `from gateway_support import …`)."""

from __future__ import annotations

import httpx


async def sign_up(
    client: httpx.AsyncClient,
    email: str = "ada@example.org",
    password: str = "correct horse battery",
    name: str = "Ada",
) -> str:
    """Sign a user up; the API token it answers with."""
    response = await client.post(
        "/v1/auth/signup", json={"email": email, "password": password, "name": name}
    )
    assert response.status_code == 201, response.text
    return response.json()["token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    """The response is the JSON error shape with this status and code; its `error` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error
