"""Resource IDs in Render's format: a prefix and 20 lowercase base32hex digits (``trn-d2k3l5q8p9f6c0m1n2``).

Like the xid format Render uses, the first characters encode the creation time, so IDs made later sort later.
"""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789abcdefghijklmnopqrstuv"


def new_id(prefix: str) -> str:
    """A new ID such as ``trn-...``: 4 bytes of epoch seconds and 8 random bytes, base32hex-encoded."""
    raw = int(time.time()).to_bytes(4, "big") + os.urandom(8)
    number = int.from_bytes(raw, "big")
    # 12 bytes = 96 bits; 20 base32 digits hold 100 bits, so the leading digit only carries the top bits.
    chars = []
    for _ in range(20):
        number, digit = divmod(number, 32)
        chars.append(_ALPHABET[digit])
    return f"{prefix}-{''.join(reversed(chars))}"
