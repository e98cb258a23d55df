"""The application layer runs over the same logs and blobs as the read side's tests, and opens
services the way the gateway's tests do."""

from tests.gateway.conftest import passwords
from tests.projections.conftest import blobs, books, logs, worker

__all__ = ["blobs", "books", "logs", "passwords", "worker"]
