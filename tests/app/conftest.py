"""The application layer runs over the same logs and blobs as the read side's tests, and opens
services the way the gateway's tests do."""

from tests.gateway.conftest import passwords
from tests.projections.conftest import backend, blobs, books, logs, views_url, worker

__all__ = ["backend", "blobs", "books", "logs", "passwords", "views_url", "worker"]
