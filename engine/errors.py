"""The engine's errors: each carries a human message; the gateway maps them to HTTP statuses."""


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code: str = "engine_error"
    """A stable machine-readable name (the gateway's JSON `error.code`)."""


RagstackError = EngineError
"""The same base under the name other packages use."""


# --- blob store (engine/blobs/) ---


class BlobError(EngineError):
    """Base of the blob store's errors."""


class InvalidBlobHash(BlobError, ValueError):
    """A string that is not a blob address (64 lower-case hex digits of a BLAKE3 digest)."""


class BlobNotFound(BlobError):
    """No blob is stored under this hash."""

    def __init__(self, hash: str) -> None:
        super().__init__(f"no blob is stored under {hash}")
        self.hash = hash


class BlobTooLarge(BlobError):
    """A streamed upload went past its size limit; nothing was kept."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the upload is larger than the limit of {limit} bytes; nothing was stored"
        )
        self.limit = limit


class BlobCorrupt(BlobError):
    """Stored bytes no longer hash to their address: they are reported, never served."""

    def __init__(self, hash: str, actual: str, where: str) -> None:
        super().__init__(
            f"blob {hash} is corrupt: the bytes at {where} hash to {actual}; refusing to serve them"
        )
        self.hash = hash
        self.actual = actual
        self.where = where


class BlobStoreConfigError(BlobError, ValueError):
    """A blob store location or option that cannot be used (bad URL, half a credential pair)."""


class BlobStoreUnavailable(BlobError):
    """The backend refused or could not be reached: wrong credentials, missing bucket, network."""


# --- logs (engine/log.py, engine/verify.py) ---


class LogError(EngineError):
    """Base of the chapter and book logs' errors."""

    code = "log_error"


class ChapterNotFound(LogError):
    """No log (JetStream stream) exists for this chapter or book."""

    code = "chapter_not_found"

    def __init__(self, log_id: str) -> None:
        super().__init__(f"no log exists for {log_id!r}")
        self.log_id = log_id


class ChapterExists(LogError):
    """A log for this chapter or book already exists."""

    code = "chapter_exists"

    def __init__(self, log_id: str) -> None:
        super().__init__(f"a log for {log_id!r} already exists")
        self.log_id = log_id


class RevisionConflict(LogError):
    """The log moved on: the caller expected another revision to be the head."""

    code = "revision_conflict"

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(
            f"the log is at revision {actual}, not {expected} as expected; "
            "reload it and decide again"
        )
        self.expected = expected
        self.actual = actual


class EventTooLarge(LogError):
    """An event's encoded payload is over the log's size limit; nothing was appended."""

    code = "event_too_large"

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"the event is {size} bytes, over the limit of {limit} bytes; nothing was appended "
            "(large content belongs in the blob store, referenced by its hash)"
        )
        self.size = size
        self.limit = limit


class LogUnavailable(LogError):
    """The NATS server could not be reached or did not answer in time."""

    code = "log_unavailable"


class ChainBroken(LogError):
    """The stored hash chain does not verify: an event was altered, dropped, reordered or spliced."""

    code = "chain_broken"

    def __init__(self, log_id: str, rev: int, reason: str) -> None:
        super().__init__(f"the log of {log_id!r} does not verify at revision {rev}: {reason}")
        self.log_id = log_id
        self.rev = rev
        self.reason = reason
