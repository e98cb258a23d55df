"""The Python SDK: typed calls over RagStack's HTTP API, async (`AsyncClient`) and sync (`Client`).

    async with AsyncClient("http://127.0.0.1:8000", token=token) as rs:
        chapter = await rs.create_chapter(book.id, "Papers")
        await rs.upload(chapter.id, Path("paper.pdf"), wait=True)
        for hit in await rs.search(chapter.id, "what did they measure?"):
            print(hit.source_name, hit.span.page, hit.text)

    with Client(url, token=token) as rs:       # the same calls, blocking
        answer = rs.ask(chapter.id, "what did they measure?")
        granted = rs.share(chapter.id, mode="proxied", to="guest@example.org")

    with ShareClient(url, granted.token) as guest:   # a guest, with the share's token only
        batch = guest.feed(after=0)

Every error the server answers with becomes `ApiError(status, code, message)` from its JSON shape
`{"error": {"code", "message"}}`; a server that cannot be reached is `ServerUnreachable` (an
`ApiError` with status 0), so a caller handles one family. Results are msgspec Structs
(client/models.py) that ignore keys they do not know, so a newer server never breaks this client.
"""

from client import models, models_connectors, models_history, models_shares
from client.aio import DEFAULT_TIMEOUT, AsyncClient, Progress, StreamItem
from client.aio_guest import AsyncShareClient, BlobMismatch
from client.errors import ApiError, ServerUnreachable
from client.models import *  # noqa: F403 - every result type is part of the SDK's face
from client.models_connectors import *  # noqa: F403
from client.models_history import *  # noqa: F403
from client.models_shares import *  # noqa: F403
from client.sync import Client, ShareClient

__all__ = [
    "DEFAULT_TIMEOUT",
    "ApiError",
    "AsyncClient",
    "AsyncShareClient",
    "BlobMismatch",
    "Client",
    "Progress",
    "ServerUnreachable",
    "ShareClient",
    "StreamItem",
]
__all__ += (
    models.__all__ + models_connectors.__all__ + models_history.__all__ + models_shares.__all__
)
