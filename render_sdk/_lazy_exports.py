"""PEP 562 lazy exports: a package names its public objects up front and imports each module on first use."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, homes: Mapping[str, str], namespace: dict[str, Any]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, whose public names live in the modules ``homes``.

    Args:
        package: The package's ``__name__``, for error messages.
        homes: Public name -> absolute name of the module that defines it.
        namespace: The package's ``globals()``: a name, once loaded, is kept there.
    """

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        # Imported here: a worker imports render_sdk.client.errors, through this package, and nothing lazily.
        import importlib

        value = getattr(importlib.import_module(home), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(homes))

    return __getattr__, __dir__
