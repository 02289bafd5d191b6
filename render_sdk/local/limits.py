"""The local runtime's limits: every size and count it enforces, in one place (the README lists them too).

Render takes task inputs of up to 4 MB; the local runtime takes the same, so that what works here works
there. A result travels base64-encoded inside the callback body, hence the callback's larger allowance.
"""

from __future__ import annotations

__all__ = [
    "CALLBACK_BODY_BYTES",
    "CONNECTIONS_PER_ATTEMPT",
    "OUTPUT_LINE_BYTES",
    "REST_BODY_BYTES",
]

REST_BODY_BYTES = 4 << 20
"""The largest request body the REST API reads (``POST /v1/task-runs``); past it the answer is 413."""

CALLBACK_BODY_BYTES = 16 << 20
"""The largest request body an attempt's callback socket reads (a result of about 12 MB); past it, 413."""

CONNECTIONS_PER_ATTEMPT = 256
"""The most connections one attempt may hold open on its callback socket; further ones wait to be accepted."""

OUTPUT_LINE_BYTES = 1 << 20
"""The longest line of worker output kept as one log record; longer lines are split into records this size."""
