"""The engine's JetStream plumbing, below `engine/log.py`.

`streams` administers a log's stream (create, info, direct get, listing); `wire` is the engine's
own fast NATS connection, whose deliveries `feed` models and `reads` drains; `appends` publishes,
one conditional message or atomic batches. Names come from `engine/nats.py`; nothing here knows
about `Log`, so the imports point one way: nats ← jetstream ← log.
"""
