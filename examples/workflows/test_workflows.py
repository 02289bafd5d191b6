"""Unit tests of the example workflow with render_sdk.testing: plain pytest, no server (the README's example).

Run them with `python -m pytest examples/workflows` from the project root.
"""

import pytest
from data_tasks import always_fails, greet
from math_tasks import add_squares, fan_out

from render_sdk.client.errors import TaskRunError
from render_sdk.testing import TaskRunner, run_task


def test_fan_out():
    runner = TaskRunner()
    assert runner.run(fan_out, 3) == [0, 1, 4]
    assert [run.task_name for run in runner.runs] == ["fan_out", "square", "square", "square"]


def test_add_squares():
    assert run_task(add_squares, 3, 4) == 25


def test_keyword_arguments():
    assert run_task(greet, name="Ada") == "Hello, Ada!"


def test_failure():
    runner = TaskRunner()
    with pytest.raises(TaskRunError) as caught:
        runner.run(always_fails, "boom")
    assert caught.value.error == "ValueError: boom"
    assert runner.runs[0].attempts == 2  # 1 + max_retries
    assert runner.runs[0].retry_waits_ms == [100]
