"""Build the throwaway environments that the benchmarks and the compatibility tests use (``_venvs.py``):
``render==1.5.0``, ``render_sdk==0.3.0`` and our runtime dependencies, so that neither waits for pip on its
first run. ``.ci/run`` calls it before the test suite; running it again only checks that they are there.

Usage: ``python benchmarks/prepare.py`` (with the Python the tests and benchmarks will run on).
"""

from __future__ import annotations

import _harness as h


def main() -> None:
    for reference in (h.RENDER_150, h.RENDER_SDK_030):
        h.log(f"{reference.label}: {h.ensure_reference(reference)}")
    h.log(f"ours' dependencies: {h.ensure_ours()}")


if __name__ == "__main__":
    main()
