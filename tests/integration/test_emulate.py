"""``bamboohr-moodle-sync emulate`` as a user runs it: paste its lines, run batches, stop it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

Emulate = tuple[subprocess.Popen[str], dict[str, str]]


@pytest.fixture
def emulate() -> Iterator[Emulate]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bamboohr_moodle_sync.cli", "emulate", "--employees", "25"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    exports: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while "AWS_SECRET_ACCESS_KEY" not in exports:
        assert time.monotonic() < deadline, "emulate printed no settings within 60 s"
        line = process.stdout.readline()
        assert line, f"emulate exited early: {process.stderr.read() if process.stderr else ''}"
        name, _, value = line.removeprefix("export ").strip().partition("=")
        exports[name] = value.strip("'")
    yield process, exports
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


def test_the_printed_settings_are_enough_to_drain_a_window(emulate: Emulate) -> None:
    _, exports = emulate
    environment = {"PATH": os.environ["PATH"], "BATCH_SIZE": "10", **exports}
    outcomes = []
    for _ in range(3):
        run = subprocess.run(
            [sys.executable, "-m", "bamboohr_moodle_sync.cli", "batch"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        outcomes.append(run.stderr.split(":")[0])
    assert outcomes == ["batch committed", "batch committed", "batch final"]


def test_sigterm_stops_it_cleanly(emulate: Emulate) -> None:
    process, _ = emulate
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
