"""The services a benchmark talks to, all on 127.0.0.1: both emulators and a DynamoDB state table."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from bamboohr_moodle_sync.local.bamboohr.emulator import RunningBambooHR, running_bamboohr
from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle, running_moodle
from bamboohr_moodle_sync.local.server import Faults

TABLE = "bench-state"
REGION = "us-east-1"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": REGION}
MANY = "100000000"  # MAX_SUSPENSIONS: the guard never stops a benchmark


@dataclass
class Emulators:
    bamboohr: RunningBambooHR
    moodle: RunningMoodle

    def requests(self) -> tuple[int, int]:
        """Requests served so far: (BambooHR, Moodle)."""
        return self.bamboohr.server.request_count, self.moodle.server.request_count

    def task_env(self, batch_size: int) -> dict[str, str]:
        """The batch task's settings (docs/contract.md) for these emulators."""
        return {
            "STATE_TABLE": TABLE,
            "BAMBOOHR_API_URL": self.bamboohr.api_url,
            "BAMBOOHR_API_KEY": self.bamboohr.api_key,
            "MOODLE_URL": self.moodle.url,
            "MOODLE_TOKEN": self.moodle.token,
            "BATCH_SIZE": str(batch_size),
            "MAX_SUSPENSIONS": MANY,
            "LOG_LEVEL": "WARNING",
        }


@contextmanager
def emulators(employees: int, latency_s: float = 0.0) -> Iterator[Emulators]:
    """Fresh emulators: BambooHR seeded with ``employees``, an empty Moodle, ``latency_s`` on every request."""
    with ExitStack() as stack:
        bamboohr = stack.enter_context(running_bamboohr(employees, Faults(latency_s=latency_s)))
        moodle = stack.enter_context(running_moodle(Faults(latency_s=latency_s)))
        yield Emulators(bamboohr, moodle)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` updated with ``values`` for the block, restored after."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def create_table(dynamodb: Any) -> None:
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def quiet_task_logs() -> None:
    """The task logs a JSON line per record it cannot sync; a benchmark wants none of them."""
    from bamboohr_moodle_sync.log import logger

    logger.setLevel(logging.WARNING)
    for name in ("bamboohr_moodle_sync", "werkzeug", "moto"):
        logging.getLogger(name).setLevel(logging.ERROR)
