"""``python -m render_sdk ...`` is the ``render-workflows`` command."""

from render_sdk._cli import main

main()
