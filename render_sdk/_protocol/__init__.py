"""Contracts that cross a process boundary, imported by both ends (standard library only).

- :mod:`~render_sdk._protocol.worker_env`: the environment Render starts a worker with (mode, socket path).
- :mod:`~render_sdk._protocol.payload`: task inputs and outputs on the callback socket (base64 strict JSON).
- :mod:`~render_sdk._protocol.wire`: callback-protocol bodies as generated dataclasses (the runtime side).
- :mod:`~render_sdk._protocol.strict_json`: the JSON every wire carries (no NaN or Infinity).
- :mod:`~render_sdk._protocol.retry`: how a registered retry policy turns into delays.
- :mod:`~render_sdk._protocol.prefork`: control messages between the local runtime and its prefork zygote.
- :mod:`~render_sdk._protocol.local_dev`: where the local runtime listens by default.

Nothing here imports the rest of the SDK: a worker process and the local runtime both import it cheaply.
"""
