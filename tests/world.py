"""A laptop-sized world for the batch task: both emulators on loopback and a moto state table.

``World.run_batch()`` runs ``bamboohr-moodle-sync batch`` in-process with the settings a Fargate task
would get, and ``World.expected_accounts()`` says what Moodle should hold according to BambooHR.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import boto3
import pytest
from moto import mock_aws

from bamboohr_moodle_sync import cli
from bamboohr_moodle_sync.local.bamboohr.emulator import RunningBambooHR, running_bamboohr
from bamboohr_moodle_sync.local.moodle.emulator import RunningMoodle, running_moodle
from bamboohr_moodle_sync.models import SETTLE_S
from bamboohr_moodle_sync.state import StateStore, Watermark
from tests.aws import REGION, create_state_table
from tests.expectations import active_accounts, expected_active_accounts


@dataclass
class BatchRun:
    exit_code: int
    stdout: str
    stderr: str


@dataclass
class World:
    bamboohr: RunningBambooHR
    moodle: RunningMoodle
    store: StateStore
    monkeypatch: pytest.MonkeyPatch
    capture: pytest.CaptureFixture[str]
    output: list[str] = field(default_factory=list)

    def run_batch(self, **env: str) -> BatchRun:
        with self.monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            self.capture.readouterr()
            code = cli.main(["batch"])
            out, err = self.capture.readouterr()
        run = BatchRun(code, out, err)
        self.output += [run.stdout, run.stderr]
        return run

    def drain(self, max_batches: int = 100, **env: str) -> list[BatchRun]:
        """Run batches from the watermark until a window is finished, as the state machine does."""
        runs = []
        for _ in range(max_batches):
            run = self.run_batch(**env)
            runs.append(run)
            assert run.exit_code == 0, run.stderr
            watermark = self.watermark
            if watermark is None or watermark.offset == 0:
                return runs
        raise AssertionError(f"window not drained in {max_batches} batches")

    def leavers_after_a_first_window(self, employees: int = 20, leavers: int = 6, settled: bool = False) -> list[str]:
        """A drained first window, then ``leavers`` employees with active accounts terminated: their ids.
        ``settled``: drain again once the first window's last second settled, so that it is not listed again."""
        ids = self.bamboohr.emulator.seed(employees)
        self.drain()
        if settled:
            self.bamboohr.emulator.advance(SETTLE_S)
            self.drain()
        active = set(self.active_accounts())
        self.bamboohr.emulator.advance(60)
        leaving = [i for i in ids if i in active][:leavers]
        for employee_id in leaving:
            self.bamboohr.emulator.terminate(employee_id)
        return leaving

    def today(self) -> date:
        """BambooHR's day (UTC), the day the batch judges hire and termination dates on."""
        return self.bamboohr.emulator.now().date()

    def advance_days(self, days: int) -> None:
        """Move BambooHR's clock, and with it the batch's today, ``days`` forward."""
        self.bamboohr.emulator.advance(days * 86_400)

    @property
    def watermark(self) -> Watermark | None:
        return self.store.read_watermark()

    def expected_accounts(self) -> dict[str, dict[str, Any]]:
        """idnumber -> the Moodle fields BambooHR says that account should have (active, valid employees)."""
        return expected_active_accounts(self.bamboohr.emulator.employees())

    def active_accounts(self) -> dict[str, dict[str, Any]]:
        """idnumber -> the synced fields of each active Moodle account that has an idnumber."""
        return active_accounts(self.moodle.emulator.users())


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> Iterator[World]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    for name in ("SINCE", "OFFSET", "DRY_RUN", "ALLOW_MASS_SUSPEND", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    with mock_aws(), running_bamboohr() as bamboohr, running_moodle() as moodle:
        client = boto3.client("dynamodb", region_name=REGION)
        table = create_state_table(client)
        monkeypatch.setenv("STATE_TABLE", table)
        monkeypatch.setenv("BAMBOOHR_API_URL", bamboohr.api_url)
        monkeypatch.setenv("BAMBOOHR_API_KEY", bamboohr.api_key)
        monkeypatch.setenv("MOODLE_URL", moodle.url)
        monkeypatch.setenv("MOODLE_TOKEN", moodle.token)
        monkeypatch.setenv("BATCH_SIZE", "10")
        monkeypatch.setenv("MAX_SUSPENSIONS", "1000")
        yield World(bamboohr, moodle, StateStore(client, table), monkeypatch, capfd)
