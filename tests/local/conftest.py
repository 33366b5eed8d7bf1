"""Fixtures that bring up the local AWS (moto server with the project's interpreter patches) and the pipeline."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from bamboohr_moodle_sync.local.aws import fargate, interpreter
from bamboohr_moodle_sync.local.aws.motoserver import LocalAws, running_moto
from bamboohr_moodle_sync.local.pipeline.offline import Options, Pipeline, running_pipeline


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with running_moto() as local:
        yield local


@pytest.fixture
def aws(local_aws: LocalAws, tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """A client factory on a reset backend; task processes log under ``tmp_path``; retries wait 1/1000."""
    local_aws.reset()
    fargate.configure(fargate.LocalTasks(endpoint_url=local_aws.endpoint_url, log_dir=tmp_path / "tasks"))
    interpreter.set_time_scale(0.001)
    yield lambda service: local_aws.client(service)
    interpreter.set_time_scale(1.0)
    fargate.configure(None)


@pytest.fixture
def make_pipeline(local_aws: LocalAws, tmp_path: Path) -> Iterator[Callable[..., Pipeline]]:
    """Brings the whole pipeline up on the shared moto server: ``make_pipeline(employees=40, ...)``.

    Small backlogs and batches keep the suite fast; Retry intervals are scaled by 1/1000.
    """
    with ExitStack() as stack:
        numbers = itertools.count(1)

        def make(**overrides: Any) -> Pipeline:
            settings: dict[str, Any] = {
                "employees": 40,
                "batch_size": 10,
                "time_scale": 0.001,
                "output": tmp_path / f"out{next(numbers)}",
            }
            settings.update(overrides)
            return stack.enter_context(running_pipeline(Options(**settings), local=local_aws))

        yield make
