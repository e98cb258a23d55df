"""RagStack benchmarks: scripts run from a checkout (`uv run python bench/bench_log.py`).

A regular package (not shipped in the wheel) so that `from bench.common import …` resolves here
and never to a same-named test folder.
"""
