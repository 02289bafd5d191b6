"""The client-side commands of ``render-workflows``: ``tasks``, ``run``, ``runs``, ``logs`` and ``init``.

Each module holds one command as a function ``(argv) -> exit status`` that :mod:`render_sdk._cli` imports only
when it runs. They talk to a Render API (by default the local runtime) through :class:`render_sdk.RenderSync`;
only they import ``rich``, so neither ``import render_sdk`` nor a worker's start command loads it.
"""
