"""The client's import rule (docs/architecture.md, "The layers"): `client` imports `events` and
`rust_core` only; serve and the local-data modes reach the server packages inside their
functions, so the SDK and the CLI load without them."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
import client, client.cli, client.sdk, client.serve, client.local
loaded = sorted({m.split('.')[0] for m in sys.modules} & {'engine', 'projections', 'gateway'})
print(','.join(loaded))
"""


def test_sdk_and_cli_load_without_the_server_packages():
    done = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "", f"client imported {done.stdout.strip()} at import time"
