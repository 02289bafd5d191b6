"""Attempts as worker processes: the orchestrator, the callback endpoint on each attempt's socket, processes,
prefork and registration.
"""
