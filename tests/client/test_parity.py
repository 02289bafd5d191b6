"""Render and RenderSync expose the same public methods with the same parameters."""

from __future__ import annotations

import inspect

import pytest

from render_sdk import Render as TopLevelRender
from render_sdk.client import (
    AwaitableTaskRun,
    Render,
    RenderSync,
    SyncTaskRun,
    WorkflowsService,
    WorkflowsServiceSync,
)

# Names that differ only because one side is async.
_ASYNC_TO_SYNC = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}
_ASYNC_ONLY = {"__await__"}


def public_members(cls: type) -> dict[str, object]:
    return {
        name: member
        for name, member in inspect.getmembers(cls)
        if (not name.startswith("_") or name in _ASYNC_TO_SYNC or name in {"__enter__", "__exit__"})
        and (callable(member) or isinstance(member, property))
    }


def shape(member: object) -> list[tuple[str, object, object]]:
    if isinstance(member, property):
        return []
    return [(p.name, p.kind, p.default) for p in inspect.signature(member).parameters.values()]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("async_cls", "sync_cls"),
    [(Render, RenderSync), (WorkflowsService, WorkflowsServiceSync), (AwaitableTaskRun, SyncTaskRun)],
)
def test_same_methods_and_signatures(async_cls: type, sync_cls: type) -> None:
    async_members = {
        _ASYNC_TO_SYNC.get(name, name): member
        for name, member in public_members(async_cls).items()
        if name not in _ASYNC_ONLY
    }
    sync_members = public_members(sync_cls)
    assert sorted(async_members) == sorted(sync_members)
    for name, member in async_members.items():
        assert shape(member) == shape(sync_members[name]), name
        assert isinstance(member, property) == isinstance(sync_members[name], property), name


def test_async_methods_are_coroutines_and_sync_ones_are_not() -> None:
    for name, member in public_members(WorkflowsService).items():
        if name.startswith("iter_") or name == "task_run_events":
            assert inspect.isasyncgenfunction(member), name
            assert inspect.isgeneratorfunction(getattr(WorkflowsServiceSync, name)), name
        else:
            assert inspect.iscoroutinefunction(member), name
            assert not inspect.iscoroutinefunction(getattr(WorkflowsServiceSync, name)), name


def test_top_level_import() -> None:
    assert TopLevelRender is Render
