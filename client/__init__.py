"""RagStack's client: the Python SDK (`client.sdk`), the `ragstack` command line (`client.cli`)
and `ragstack serve` (`client.serve`).

It imports `events` and `rust_core` only and talks to the rest over HTTP; `client.serve` and the
local-data modes of the audit commands (`client.local`) reach the server packages inside their
functions, so importing the SDK stays light.
"""
