"""What the asynchronous and the synchronous client share, so that only their I/O differs.

:class:`ClientBase` resolves the settings once and keeps what the client learned about its server;
:class:`ServiceBase` is the ``workflows`` attribute's link back to its client; :class:`StartedRunBase` holds a
started run's id, latest status and, once seen, its outcome.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar

from render_sdk.client._config import Timeouts, resolve_config
from render_sdk.client._waiting import Finished, ServerTraits, outcome
from render_sdk.client.types import TaskRun, TaskRunDetails, TaskRunStatus, is_terminal

if TYPE_CHECKING:
    from render_sdk_public_api import Client as ApiClient

__all__ = ["ClientBase", "ServiceBase", "StartedRunBase"]

Transport = TypeVar("Transport")
Client = TypeVar("Client", bound="ClientBase[Any]")
Service = TypeVar("Service", bound="ServiceBase[Any]")


class ClientBase(Generic[Transport]):
    """Settings, the API location and the server's traits; subclasses open their connections in ``_open``.

    The arguments are documented on :class:`render_sdk.client.Render`.
    """

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        max_retries: int = 3,
        timeouts: Timeouts | None = None,
        poll_interval: float = 2.0,
        transport: Transport | None = None,
    ) -> None:
        self._config = resolve_config(
            token,
            base_url,
            max_retries=max_retries,
            timeouts=timeouts or Timeouts(),
            poll_interval=poll_interval,
        )
        self._traits = ServerTraits()
        self._open(transport)

    def _open(self, transport: Transport | None) -> None:
        """Set up the connections (or what makes them later) and the ``workflows`` service."""
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        """The API location, without ``/v1``."""
        return self._config.base_url

    def _new_api_client(self) -> ApiClient:
        """A generated low-level client for this API location, before it is given connections."""
        from render_sdk_public_api import Client as ApiClient

        return ApiClient(base_url=self._config.api_root)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self._config.base_url!r})"


class ServiceBase(Generic[Client]):
    """A client's ``workflows`` service: every call goes through its client's requests."""

    def __init__(self, render: Client) -> None:
        self._render = render

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._render!r})"


class StartedRunBase(Generic[Service]):
    """A started run: ``id`` and ``status`` at once; the outcome is kept once a wait has seen it."""

    def __init__(self, workflows: Service, task_run: TaskRun) -> None:
        self._workflows = workflows
        self.task_run = task_run
        self._status: TaskRunStatus | str = task_run.status
        self._finished: Finished | None = None

    @property
    def id(self) -> str:
        """The run's id (``trn-...``)."""
        return self.task_run.id

    @property
    def status(self) -> TaskRunStatus | str:
        """The latest status this object has seen (from the start, a refresh or the finish)."""
        return self._status

    @property
    def _over_when_started(self) -> bool:
        """A run that was already over when it started needs no stream: one GET has everything."""
        return is_terminal(self._status)

    def _settle(self, finished: Finished) -> TaskRunDetails:
        """Keep the finish a wait saw, and return (or raise) its outcome."""
        self._finished = finished
        self._status = finished[0].status
        return outcome(*finished)

    def _refreshed(self, details: TaskRunDetails) -> TaskRunDetails:
        self._status = details.status
        return details

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r}, status={str(self._status)!r})"
