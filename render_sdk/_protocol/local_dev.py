"""Where ``render-workflows dev`` listens unless told otherwise, and so where clients look for it."""

from __future__ import annotations

from typing import Final

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "DEFAULT_URL", "LOCAL_DEV_URL"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8120
DEFAULT_URL: Final = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"
"""The URL the server prints in its banner."""

LOCAL_DEV_URL: Final = f"http://localhost:{DEFAULT_PORT}"
"""What clients use for ``RENDER_USE_LOCAL_DEV``, as Render's official SDKs do."""
