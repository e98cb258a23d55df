"""The welcome page: what `GET /` shows when the server has no web app build to serve.

The page says that the server runs, which version, and where to go next (the interactive API
docs, the CLI's first steps). gateway/routes/webapp.py serves it at `/` (outside the API schema)
until a build of the web app is present.
"""

from __future__ import annotations

from html import escape

from fastapi import Request
from fastapi.responses import HTMLResponse

from gateway.routes.info import server_version

__all__ = ["welcome_page"]

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>RagStack</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 42rem; margin: 3rem auto; padding: 0 1rem;
       color: #222; }}
code, pre {{ background: #f3f3f3; border-radius: 4px; }}
pre {{ padding: .75rem 1rem; overflow-x: auto; }}
</style></head>
<body>
<h1>RagStack {version}</h1>
<p>This server is running. Its API lives under <code>/v1</code>: see the
<a href="{root}/docs">interactive API documentation</a> or the
<a href="{root}/openapi.json">OpenAPI document</a>.</p>
<p>Start from the command line:</p>
<pre>uv run ragstack login {base} --signup    # you get a book of your own
uv run ragstack book list
uv run ragstack chapter create BOOK "Reading list"
uv run ragstack add "Reading list" ~/papers --wait
uv run ragstack ask "Reading list" "What do these papers say?"</pre>
<p>Health: <a href="{root}/health">/health</a>, <a href="{root}/health/ready">/health/ready</a>,
<a href="{root}/metrics">/metrics</a>.</p>
</body></html>
"""


def welcome_page(request: Request) -> HTMLResponse:
    """The welcome page."""
    root = escape(request.scope.get("root_path", "").rstrip("/"))
    base = escape(str(request.base_url).rstrip("/"))
    return HTMLResponse(_PAGE.format(version=escape(server_version()), root=root, base=base))
