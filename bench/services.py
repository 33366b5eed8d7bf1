"""The services a benchmark talks to, all on 127.0.0.1: both emulators and a DynamoDB state table."""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from bamboohr_moodle_sync.local.bamboohr_emulator import RunningBambooHR, running_bamboohr
from bamboohr_moodle_sync.local.moodle_emulator import RunningMoodle, running_moodle
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
    fast_moodle_transactions()
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


READ_ONLY_FUNCTIONS = frozenset(
    {"core_user_get_users_by_field", "core_user_get_users", "core_webservice_get_site_info", "core_cohort_get_cohorts"}
)


def fast_moodle_transactions() -> None:
    """Cheaper rollback copies in the Moodle emulator, with the same effect as its ``deepcopy``.

    The emulator copies the whole site before every call so that a failed call rolls back. ``deepcopy``
    of 10,000 accounts takes 0.15 to 0.3 s a call here and would dominate the wall times measured (a real
    Moodle pays about 27 ms a request, see /work/shared/reference/moodle.md). Reads change nothing, so they
    get no copy; writes get a copy of each account and of its containers, which is a full copy for the
    emulator's flat accounts. Idempotent.
    """
    from bamboohr_moodle_sync.local import moodle_functions as functions
    from bamboohr_moodle_sync.local.moodle_emulator import MoodleEmulator
    from bamboohr_moodle_sync.local.moodle_functions import State

    if getattr(State, "_bench_fast", False):
        return
    original_call = MoodleEmulator._call

    def call(self: MoodleEmulator, token: Any, wsfunction: Any, params: dict[str, Any]) -> Any:
        self._state._bench_read_only = wsfunction in READ_ONLY_FUNCTIONS  # type: ignore[attr-defined]
        return original_call(self, token, wsfunction, params)

    def snapshot(self: State) -> tuple[Any, ...]:
        if getattr(self, "_bench_read_only", False):
            return (self.users, self.cohorts, self.members)
        return ({i: _copy_record(u) for i, u in self.users.items()}, copy.deepcopy(self.cohorts), set(self.members))

    MoodleEmulator._call = call  # type: ignore[method-assign]
    functions.CALLS["core_user_create_users"] = _indexed_create(functions.CALLS["core_user_create_users"])
    State.snapshot = snapshot  # type: ignore[method-assign]
    State._bench_fast = True  # type: ignore[attr-defined]


def _copy_record(record: dict[str, Any]) -> dict[str, Any]:
    copied = record.copy()
    for key, value in record.items():
        if isinstance(value, dict | list | set):
            copied[key] = copy.deepcopy(value)
    return copied


def _indexed_create(create: Callable[..., Any]) -> Callable[..., Any]:
    def indexed(state: Any, params: dict[str, Any], site_url: str) -> Any:
        names = {str(u.get("username", "")) for u in params["users"]}
        emails = {str(u.get("email", "")).lower() for u in params["users"]}
        view = copy.copy(state)
        view.users = {i: u for i, u in state.users.items() if u["username"] in names or u["email"].lower() in emails}
        try:
            answer = create(view, params, site_url)
        finally:
            first_new, state.next_user_id = state.next_user_id, view.next_user_id  # sequences never roll back
        state.users.update((i, u) for i, u in view.users.items() if i >= first_new)
        return answer

    return indexed
