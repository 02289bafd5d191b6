"""``python -m render_sdk ...`` is the ``render-workflows`` command."""

from render_sdk.workflows.cli import main

main()
