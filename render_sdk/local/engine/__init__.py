"""The engine of the local runtime: records, their SQLite store, the run state machine, ids, events, clock.

No HTTP and no processes here: the REST API (:mod:`render_sdk.local.api`) and the attempts layer
(:mod:`render_sdk.local.attempts`) both drive the same state machine, which is the only writer of run status.
"""
