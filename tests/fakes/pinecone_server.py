"""A Pinecone data-plane server for tests: real HTTP on loopback, one dense index in memory.

It speaks the REST data plane the `pinecone` SDK (v10, API version 2026-07) calls for an index
created with a dimension and a metric: `POST /vectors/upsert`, `POST /query`,
`POST /vectors/delete`, `GET /vectors/list`, `GET /vectors/fetch`, `POST /describe_index_stats`
and `DELETE /namespaces/{namespace}`. Bodies are camelCase JSON, as the SDK's response models
decode them. Search is exact brute-force cosine (the metric RagStack uses) with the metadata
filter language's comparison and logical operators.

Where the real service has a rule that clients trip over, the fake keeps it: the `Api-Key` header
is checked (401), the dimension is fixed, cosine refuses the zero vector, metadata is flat
(strings, numbers, booleans, lists of strings; no nulls) and at most 40 KB per record, numbers are
stored as float64 (an int comes back as a float), ids are listed in pages of at most 100, and
deleting from a namespace that does not exist answers 404, as serverless indexes do. Errors have
the data plane's body, `{"code": <gRPC code>, "message": ..., "details": []}`.

Unlike the service, the fake is read-your-writes: a write is visible to the next request.
"""

import base64
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import numpy as np
import orjson  # the pinecone SDK's own JSON library, so present wherever the SDK is

MAX_METADATA_BYTES = 40_960
MAX_UPSERT_VECTORS = 1_000
MAX_TOP_K = 10_000
MAX_LIST_LIMIT = 100
DEFAULT_NAMESPACE = "__default__"

# gRPC status codes, which the data plane puts in its error bodies.
_INVALID_ARGUMENT = 3
_NOT_FOUND = 5
_UNAUTHENTICATED = 16
_UNIMPLEMENTED = 12


@dataclass(frozen=True)
class Seen:
    """One request the fake received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: Any  # decoded JSON, or None
    status: int  # what the fake answered


class PineconeApiError(Exception):
    """An error the fake answers with: HTTP status plus the data plane's error body."""

    def __init__(self, status: HTTPStatus, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _bad(message: str) -> PineconeApiError:
    return PineconeApiError(HTTPStatus.BAD_REQUEST, _INVALID_ARGUMENT, message)


class _Namespace:
    """Records of one namespace, with a lazily rebuilt matrix for brute-force search."""

    def __init__(self) -> None:
        self.values: dict[str, np.ndarray] = {}
        self.metadata: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []
        self._matrix: np.ndarray | None = None
        self._unit: np.ndarray | None = None

    def put(self, record_id: str, values: np.ndarray, metadata: dict[str, Any]) -> None:
        self.values[record_id] = values
        self.metadata[record_id] = metadata
        self._matrix = None

    def remove(self, record_id: str) -> None:
        if self.values.pop(record_id, None) is not None:
            del self.metadata[record_id]
            self._matrix = None

    def matrix(self) -> tuple[list[str], np.ndarray, np.ndarray]:
        """Ids, their vectors as rows, and the rows scaled to unit length (for cosine)."""
        if self._matrix is None or self._unit is None:
            self._ids = list(self.values)
            self._matrix = np.stack([self.values[i] for i in self._ids])
            self._unit = self._matrix / np.linalg.norm(self._matrix, axis=1, keepdims=True)
        return self._ids, self._matrix, self._unit


# -- metadata filters -----------------------------------------------------------------------


def _compare(stored: Any, op: str, operand: Any) -> bool:
    """One field condition; a list-of-strings field matches when any element does."""
    if op == "$exists":
        if not isinstance(operand, bool):
            raise _bad("$exists operator expects a boolean")
        return (stored is not None) == operand
    if stored is None:
        return op in ("$ne", "$nin")
    values = stored if isinstance(stored, list) else [stored]
    if op in ("$in", "$nin"):
        if not isinstance(operand, list) or not operand:
            raise _bad(f"{op} operator expects a non-empty array")
        operands = [_stored_scalar(v) for v in operand]
        hit = any(v == o and type(v) is type(o) for v in values for o in operands)
        return hit if op == "$in" else not hit
    if isinstance(operand, list | dict) or operand is None:
        raise _bad(f"{op} operator expects a string, number or boolean")
    target = _stored_scalar(operand)
    if op == "$eq":
        return any(v == target and type(v) is type(target) for v in values)
    if op == "$ne":
        return not any(v == target and type(v) is type(target) for v in values)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if not isinstance(target, float):
            raise _bad(f"{op} operator expects a number")
        test: Callable[[float], bool] = {
            "$gt": lambda v: v > target,
            "$gte": lambda v: v >= target,
            "$lt": lambda v: v < target,
            "$lte": lambda v: v <= target,
        }[op]
        return any(isinstance(v, float) and test(v) for v in values)
    raise _bad(f"unsupported filter operator {op}")


def _matches(metadata: dict[str, Any], expression: dict[str, Any]) -> bool:
    """Whether `metadata` passes a filter `_check_filter` has accepted."""
    for key, condition in expression.items():
        if key in ("$and", "$or"):
            parts = (_matches(metadata, c) for c in condition)
            if not (all(parts) if key == "$and" else any(parts)):
                return False
        elif isinstance(condition, dict):
            for op, operand in condition.items():
                if not _compare(metadata.get(key), op, operand):
                    return False
        elif not _compare(metadata.get(key), "$eq", condition):
            return False
    return True


def _check_filter(expression: Any) -> None:
    """Refuse a malformed filter, before matching it (and where there is nothing to match)."""
    if not isinstance(expression, dict):
        raise _bad("a metadata filter must be an object")
    for key, condition in expression.items():
        if key in ("$and", "$or"):
            if not isinstance(condition, list) or not condition:
                raise _bad(f"{key} operator expects a non-empty array of filters")
            for part in condition:
                _check_filter(part)
        elif key.startswith("$"):
            raise _bad(f"unsupported filter operator {key}")
        elif isinstance(condition, dict):
            for op, operand in condition.items():
                _compare("", op, operand)  # raises on an unknown operator or a bad operand
        else:
            _compare("", "$eq", condition)


# -- values ---------------------------------------------------------------------------------


def _stored_scalar(value: Any) -> Any:
    """A metadata scalar as Pinecone keeps it: every number is a float64."""
    if isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def _check_metadata(record_id: str, metadata: Any) -> dict[str, Any]:
    if metadata is None:
        return {}
    if not isinstance(metadata, dict):
        raise _bad(f"Metadata of vector {record_id} must be an object")
    stored: dict[str, Any] = {}
    for key, value in metadata.items():
        if key.startswith("$"):
            raise _bad(f"Metadata key {key} must not start with '$'")
        if isinstance(value, list):
            if not all(isinstance(v, str) for v in value):
                raise _bad(f"Metadata value for key {key} must be a list of strings")
            stored[key] = list(value)
        elif isinstance(value, bool | str) or (
            isinstance(value, int | float) and math.isfinite(value)
        ):
            stored[key] = _stored_scalar(value)
        else:
            raise _bad(
                f"Metadata value for key {key} must be a string, number, boolean or list of strings"
            )
    size = len(json.dumps(stored, separators=(",", ":")).encode())
    if size > MAX_METADATA_BYTES:
        raise _bad(
            f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES}"
            " bytes per vector"
        )
    return stored


def _check_id(record_id: Any) -> str:
    if not isinstance(record_id, str) or not record_id or len(record_id) > 512:
        raise _bad("Vector ID must be a string of 1 to 512 characters")
    if not record_id.isascii():
        raise _bad(f"Vector ID must be ASCII, but got {record_id}")
    return record_id


class FakePinecone:
    """One Pinecone index's data plane on `http://127.0.0.1:<port>`.

    Use as a context manager (or `start`/`stop`); `host` is what `Index(host=...)` takes.
    `requests` records every request (`Seen`), for tests that check what went over the wire.
    """

    def __init__(
        self,
        *,
        dimension: int,
        api_key: str = "pclocal-test-key",
        port: int = 0,
    ) -> None:
        if dimension < 1:
            raise ValueError("dimension must be positive")
        self.dimension = dimension
        self.api_key = api_key
        self.requests: list[Seen] = []
        self._namespaces: dict[str, _Namespace] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def host(self) -> str:
        """The index host URL, e.g. `http://127.0.0.1:54321`."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> "FakePinecone":
        """Serve in a background thread."""
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="fake-pinecone", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "FakePinecone":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- operations (called with the request's decoded JSON or query) -----------------------

    def _vector(self, values: Any) -> np.ndarray:
        if not isinstance(values, list) or any(v is True or v is False for v in values):
            raise _bad("Vector values must be an array of numbers")
        try:
            array = np.asarray(values, dtype=np.float32)  # Pinecone keeps float32 values
        except (TypeError, ValueError):
            raise _bad("Vector values must be an array of numbers") from None
        if array.ndim != 1:
            raise _bad("Vector values must be an array of numbers")
        if len(values) != self.dimension:
            raise _bad(
                f"Vector dimension {len(values)} does not match the dimension of the index"
                f" {self.dimension}"
            )
        if not np.isfinite(array).all():
            raise _bad("Vector values must be finite numbers")
        if not array.any():
            raise _bad("Dense vectors must contain at least one non-zero value")
        return array

    def upsert(self, body: dict[str, Any]) -> dict[str, Any]:
        vectors = body.get("vectors")
        if not isinstance(vectors, list) or not vectors:
            raise _bad("vectors must be a non-empty array")
        if len(vectors) > MAX_UPSERT_VECTORS:
            raise _bad(f"Max vector count per request is {MAX_UPSERT_VECTORS}, got {len(vectors)}")
        checked = []
        for vector in vectors:  # validate the whole batch before storing any of it
            if not isinstance(vector, dict):
                raise _bad("each vector must be an object")
            if vector.get("sparseValues") is not None:
                raise _bad("This index is dense-only: sparse values are not supported")
            record_id = _check_id(vector.get("id"))
            checked.append(
                (
                    record_id,
                    self._vector(vector.get("values")),
                    _check_metadata(record_id, vector.get("metadata")),
                )
            )
        with self._lock:
            space = self._namespaces.setdefault(_namespace(body), _Namespace())
            for record_id, values, metadata in checked:
                space.put(record_id, values, metadata)
        return {"upsertedCount": len(checked)}

    def query(self, body: dict[str, Any]) -> dict[str, Any]:
        top_k = body.get("topK")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or not 1 <= top_k <= MAX_TOP_K:
            raise _bad(f"topK must be an integer from 1 to {MAX_TOP_K}")
        name = _namespace(body)
        expression = body.get("filter")
        if expression is not None:
            _check_filter(expression)
        with self._lock:
            space = self._namespaces.get(name)
            if body.get("id") is not None:
                if space is None or body["id"] not in space.values:
                    raise _bad(f"No vector found with id {body['id']}")
                query = space.values[body["id"]]
            else:
                query = self._vector(body.get("vector"))
            if space is None or not space.values:
                return {"results": [], "matches": [], "namespace": name, "usage": {"readUnits": 1}}
            ids, matrix, unit = space.matrix()
            keep = np.ones(len(ids), dtype=bool)
            if expression:
                keep = np.fromiter(
                    (_matches(space.metadata[i], expression) for i in ids), bool, len(ids)
                )
            scores = unit @ (query / np.linalg.norm(query))
            candidates = np.flatnonzero(keep)
            order = candidates[np.argsort(-scores[candidates], kind="stable")][:top_k]
            matches = []
            for n in order:
                match: dict[str, Any] = {"id": ids[n], "score": float(scores[n]), "values": []}
                if body.get("includeValues"):
                    match["values"] = matrix[n].tolist()
                if body.get("includeMetadata"):
                    match["metadata"] = space.metadata[ids[n]]
                matches.append(match)
        return {"results": [], "matches": matches, "namespace": name, "usage": {"readUnits": 5}}

    def delete(self, body: dict[str, Any]) -> dict[str, Any]:
        ids, delete_all, expression = body.get("ids"), body.get("deleteAll"), body.get("filter")
        if sum(x is not None and x is not False for x in (ids, delete_all, expression)) != 1:
            raise _bad("Exactly one of ids, deleteAll or filter must be given")
        name = _namespace(body)
        with self._lock:
            space = self._namespaces.get(name)
            if space is None:
                raise PineconeApiError(HTTPStatus.NOT_FOUND, _NOT_FOUND, "Namespace not found")
            if ids is not None:
                if not isinstance(ids, list):
                    raise _bad("ids must be an array of strings")
                for record_id in ids:
                    space.remove(_check_id(record_id))
            elif delete_all:
                for record_id in list(space.values):
                    space.remove(record_id)
            else:
                if not isinstance(expression, dict) or not expression:
                    raise _bad("Delete with empty metadata filter is not allowed")
                _check_filter(expression)
                for record_id in [i for i, m in space.metadata.items() if _matches(m, expression)]:
                    space.remove(record_id)
        return {}

    def fetch(self, query: dict[str, list[str]]) -> dict[str, Any]:
        ids = query.get("ids", [])
        if not ids:
            raise _bad("ids must be a non-empty array")
        name = _namespace({"namespace": query.get("namespace", [""])[0]})
        with self._lock:
            space = self._namespaces.get(name) or _Namespace()
            vectors = {
                i: {"id": i, "values": space.values[i].tolist(), "metadata": space.metadata[i]}
                for i in ids
                if i in space.values
            }
        return {"vectors": vectors, "namespace": name, "usage": {"readUnits": 1}}

    def list_ids(self, query: dict[str, list[str]]) -> dict[str, Any]:
        name = _namespace({"namespace": query.get("namespace", [""])[0]})
        prefix = query.get("prefix", [""])[0]
        try:
            limit = int(query.get("limit", [str(MAX_LIST_LIMIT)])[0])
        except ValueError:
            raise _bad("limit must be an integer") from None
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise _bad(f"limit must be between 1 and {MAX_LIST_LIMIT}")
        after = ""
        if "paginationToken" in query:
            try:
                after = base64.urlsafe_b64decode(query["paginationToken"][0]).decode()
            except ValueError:
                raise _bad("invalid pagination token") from None
        with self._lock:
            space = self._namespaces.get(name) or _Namespace()
            ids = sorted(i for i in space.values if i.startswith(prefix) and i > after)
        page = ids[:limit]
        answer: dict[str, Any] = {
            "vectors": [{"id": i} for i in page],
            "namespace": name,
            "usage": {"readUnits": 1},
        }
        if len(ids) > limit:
            answer["pagination"] = {"next": base64.urlsafe_b64encode(page[-1].encode()).decode()}
        return answer

    def describe_index_stats(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("filter"):
            raise _bad("describe_index_stats does not support a metadata filter on this index")
        with self._lock:
            counts = {n: len(s.values) for n, s in self._namespaces.items() if s.values}
        return {
            "namespaces": {n: {"vectorCount": c} for n, c in counts.items()},
            "dimension": self.dimension,
            "indexFullness": 0.0,
            "totalVectorCount": sum(counts.values()),
            "metric": "cosine",
            "vectorType": "dense",
        }

    def delete_namespace(self, name: str) -> dict[str, Any]:
        with self._lock:
            if self._namespaces.pop(_namespace({"namespace": name}), None) is None:
                raise PineconeApiError(HTTPStatus.NOT_FOUND, _NOT_FOUND, "Namespace not found")
        return {}


def _namespace(body: dict[str, Any]) -> str:
    name = body.get("namespace") or ""
    if not isinstance(name, str):
        raise _bad("namespace must be a string")
    return name or DEFAULT_NAMESPACE


def _handler_for(index: FakePinecone) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
        # Headers and body leave in two writes; with Nagle on, each answer waits for a delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            pass  # quiet: tests read `index.requests` instead

        def _answer(self, status: HTTPStatus, body: dict[str, Any]) -> None:
            data = orjson.dumps(body)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.send_header("x-pinecone-request-id", str(len(index.requests)))
            self.end_headers()
            self.wfile.write(data)

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            path = parts.path
            query = parse_qs(parts.query)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            status, answer = self._route(method, path, query, raw)
            try:
                seen_body = json.loads(raw) if raw else None
            except ValueError:
                seen_body = raw
            headers = {k.lower(): v for k, v in self.headers.items()}
            index.requests.append(Seen(method, path, query, headers, seen_body, int(status)))
            self._answer(status, answer)

        def _route(
            self, method: str, path: str, query: dict[str, list[str]], raw: bytes
        ) -> tuple[HTTPStatus, dict[str, Any]]:
            try:
                if self.headers.get("Api-Key") != index.api_key:
                    raise PineconeApiError(
                        HTTPStatus.UNAUTHORIZED, _UNAUTHENTICATED, "Invalid API Key"
                    )
                body: Any = {}
                if raw:
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise _bad("request body is not valid JSON") from None
                    if not isinstance(body, dict):
                        raise _bad("request body must be a JSON object")
                route = (method, path)
                if route == ("POST", "/vectors/upsert"):
                    answer = index.upsert(body)
                elif route == ("POST", "/query"):
                    answer = index.query(body)
                elif route == ("POST", "/vectors/delete"):
                    answer = index.delete(body)
                elif route == ("GET", "/vectors/fetch"):
                    answer = index.fetch(query)
                elif route == ("GET", "/vectors/list"):
                    answer = index.list_ids(query)
                elif route == ("POST", "/describe_index_stats"):
                    answer = index.describe_index_stats(body)
                elif method == "DELETE" and path.startswith("/namespaces/"):
                    answer = index.delete_namespace(unquote(path[len("/namespaces/") :]))
                else:
                    raise PineconeApiError(
                        HTTPStatus.NOT_FOUND, _UNIMPLEMENTED, f"no route for {method} {path}"
                    )
            except PineconeApiError as exc:
                return exc.status, {"code": exc.code, "message": exc.message, "details": []}
            return HTTPStatus.OK, answer

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def do_DELETE(self) -> None:
            self._serve("DELETE")

    return Handler
