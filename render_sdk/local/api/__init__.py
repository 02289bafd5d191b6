"""Render's public REST API and task-run event stream, served by the local runtime (starlette)."""
