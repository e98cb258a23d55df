"""GET / greets a browser: the server runs, its version, and where to go next."""

from __future__ import annotations

from gateway.routes.info import server_version


async def test_the_root_is_a_welcome_page_with_the_next_steps(client):
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert f"RagStack {server_version()}" in page
    assert 'href="/docs"' in page and 'href="/openapi.json"' in page
    assert "ragstack login http://" in page and "--signup" in page


async def test_the_welcome_page_is_not_part_of_the_api_schema(client):
    schema = (await client.get("/openapi.json")).json()
    assert "/" not in schema["paths"]
    assert (await client.get("/docs")).status_code == 200
