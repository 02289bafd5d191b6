"""The SDK's version (the single source: pyproject.toml reads it from here) and the User-Agent it sends."""

from __future__ import annotations

import os
import sys

__all__ = ["__version__", "user_agent"]

__version__ = "0.1.0"


def user_agent() -> str:
    """``render-sdk-python/<version> (<impl>/<pyver>; <os>/<arch>)``, the shape Render's own SDK sends."""
    python_version = ".".join(str(part) for part in sys.version_info[:3])
    system = os.uname()
    return (
        f"render-sdk-python/{__version__} ({sys.implementation.name.lower()}/{python_version}; "
        f"{system.sysname.lower()}/{system.machine.lower()})"
    )
