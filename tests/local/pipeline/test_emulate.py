"""``bamboohr-moodle-sync emulate`` and ``world`` as a user runs them: the README's walk-through, as written."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
SECTION = "## Trying the batch task by hand"
Emulate = tuple[subprocess.Popen[str], dict[str, str]]


def readme_blocks(heading: str) -> list[list[str]]:
    """The ```sh blocks of the README section under ``heading``, as lists of lines."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    return [block.strip().splitlines() for block in re.findall(r"```sh\n(.*?)```", section, re.DOTALL)]


def start_emulate(command: str, cwd: Path = REPO) -> Emulate:
    process = subprocess.Popen(shlex.split(command), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    exports: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while "AWS_SECRET_ACCESS_KEY" not in exports:
        assert time.monotonic() < deadline, "emulate printed no settings within 60 s"
        line = process.stdout.readline()
        assert line, f"emulate exited early: {process.stderr.read() if process.stderr else ''}"
        name, _, value = line.removeprefix("export ").strip().partition("=")
        exports[name] = value.strip("'")
    return process, exports


def stop(process: subprocess.Popen[str], signum: signal.Signals = signal.SIGTERM) -> tuple[int, str]:
    if process.poll() is None:
        process.send_signal(signum)
    _, stderr = process.communicate(timeout=30)
    return process.returncode, stderr


@pytest.fixture
def emulate() -> Iterator[Emulate]:
    running = start_emulate(f"{sys.executable} -m bamboohr_moodle_sync.cli emulate --employees 25")
    yield running
    if running[0].poll() is None:
        stop(running[0])


def test_the_printed_settings_are_enough_to_drain_a_window_and_then_find_nothing(emulate: Emulate) -> None:
    _, exports = emulate
    environment = {"PATH": os.environ["PATH"], "BATCH_SIZE": "10", **exports}
    outcomes = []
    for _ in range(4):
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
    assert outcomes == ["batch committed", "batch committed", "batch final", "batch empty"]


def test_sigterm_stops_it_cleanly(emulate: Emulate) -> None:
    code, stderr = stop(emulate[0])
    assert (code, "Traceback" in stderr) == (0, False)


def test_the_readme_walk_through_runs_as_written() -> None:
    """Each line of the README's blocks runs in the pasted environment; its comment's quoted text is in its output."""
    first, *rest = readme_blocks(SECTION)
    assert len(first) == 1, "the first block starts emulate, alone"
    process, exports = start_emulate(first[0])
    try:
        environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **exports}
        for line in [line for block in rest for line in block]:
            command, _, comment = line.partition("#")
            expected = re.search(r'"(.+?)"', comment)
            assert expected, f"README line without an expected output in quotes: {line}"
            run = subprocess.run(  # noqa: S602 - the README's own command, as a user types it
                command, shell=True, cwd=REPO, env=environment, capture_output=True, text=True, timeout=120, check=False
            )
            output = run.stdout + run.stderr
            assert run.returncode == 0, f"{command}\n{output}"
            assert expected[1] in output, f"{command} did not say {expected[1]!r}:\n{output}"
    finally:
        code, stderr = stop(process, signal.SIGINT)  # Ctrl-C, as the README says
    assert (code, "Traceback" in stderr) == (0, False)
