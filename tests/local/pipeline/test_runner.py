"""``local-run`` as a user meets it: refused options, the progress line, its output folder, Ctrl-C, the summary
and the picture of the run (out/graph.html)."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from bamboohr_moodle_sync import cli
from bamboohr_moodle_sync.local.aws.fargate import TaskRun
from bamboohr_moodle_sync.local.pipeline import drift, graph, runner
from bamboohr_moodle_sync.local.pipeline.offline import Pipeline
from bamboohr_moodle_sync.local.server import EmulatorServer, Faults, Response

TASKS = Path(__file__).resolve().parents[3] / "tasks"

MakePipeline = Callable[..., Pipeline]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--employees", "-5"], "argument --employees: give an integer 0 or more, not '-5'"),
        (["--max-batches-per-execution", "0"], "argument --max-batches-per-execution: give an integer from 1 to 1000"),
        (["--time-scale", "-1"], "argument --time-scale: give a number from 0.0001 to 1, not '-1'"),
        (["--fault", "bamboohr-503=1.5"], "--fault bamboohr-503=1.5: give a number from 0 to 1, not '1.5'"),
        (["--fault", "moodle-503=abc"], "--fault moodle-503=abc: give a number from 0 to 1, not 'abc'"),
        (["--batch-size", "0"], "argument --batch-size: give an integer from 1 to 1000, not '0'"),
        (["--output", "/proc/nope"], "argument --output: cannot write to /proc/nope"),
        (["--fault", "x=abc"], "unknown fault 'x=abc'; known: bamboohr-503=RATE"),
        (["--mapping", "/no/such/mapping.toml"], "argument --mapping: MAPPING_FILE /no/such/mapping.toml: [Errno 2]"),
        (["--mapping", str(TASKS / "pyproject.toml")], "pyproject.toml: unknown section(s) ['build-system'"),
    ],
)
def test_nonsense_is_refused_before_anything_starts_naming_the_option_and_its_range(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    monkeypatch.setattr(runner, "running_pipeline", lambda *_: pytest.fail("the pipeline started"))
    with pytest.raises(SystemExit) as exited:
        cli.main(["local-run", *arguments])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


def test_the_mapping_option_gives_the_tasks_that_file_and_a_full_run_adds_no_second_scope(tmp_path: Path) -> None:
    parser = runner.build_parser()
    shipped = TASKS / "mapping.toml"
    args = parser.parse_args(["--mapping", str(shipped), "--output", str(tmp_path)])
    assert runner.options_from(args, parser).mapping == shipped.read_text(encoding="utf-8")
    assert drift.can_add_scope(shipped.read_text(encoding="utf-8"))
    assert not drift.can_add_scope('[scope]\nexclude = { department = ["Sales"] }\n')
    assert not drift.can_add_scope(None)


def test_a_failed_task_s_whole_last_stderr_line_is_shown(tmp_path: Path) -> None:
    last = "bamboohr-moodle-sync batch failed: " + "x" * 300 + " fix the secret BAMBOOHR_SECRET_ID"
    log = tmp_path / "task-0001.log"
    log.write_text(f"earlier line\n{last}\n", encoding="utf-8")
    out = io.StringIO()
    runner.Progress(batch_size=10, out=out)(TaskRun(1, "arn", [], {}, log, exit_code=2))
    assert f"task 1 exited 2: {last}  (" in out.getvalue()


def test_each_run_starts_with_a_clean_output_folder(tmp_path: Path) -> None:
    stale = [tmp_path / "tasks" / "task-0042.log", tmp_path / "graph.html", tmp_path / "history.json"]
    kept = tmp_path / "notes.txt"
    for path in [*stale, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("from an earlier run", encoding="utf-8")
    parser = runner.build_parser()
    runner.options_from(parser.parse_args(["--output", str(tmp_path)]), parser)
    assert [path for path in stale if path.exists()] == []
    assert kept.exists()


def test_the_summary_says_how_many_requests_were_answered_with_a_status_the_task_retries() -> None:
    with EmulatorServer(lambda _: Response.text(200, "ok"), Faults(error_rate=0.5, seed=7)) as server:
        statuses = [requests.get(server.url, timeout=5).status_code for _ in range(20)]
        summary = runner.requests_summary("BambooHR", server)
    assert summary == f"BambooHR answered 20, {statuses.count(503)} of them with 408/429/503 (retried by the task)"
    assert 0 < statuses.count(503) < 20


def test_ctrl_c_ends_the_run_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "bamboohr_moodle_sync.cli", "local-run", "--employees", "400"]
    command += ["--batch-size", "10", "--fault", "latency-ms=20", "--output", str(tmp_path)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    seen: list[str] = []
    deadline = time.monotonic() + 120
    while not any(line.startswith("batch 1 of") for line in seen):
        assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
        seen.append(process.stderr.readline())
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    assert process.returncode == 130
    assert "Traceback" not in rest
    assert rest.strip().splitlines()[-1].startswith("interrupted: everything is stopped")


def state_classes(page: str) -> dict[str, str]:
    return {name: outcome for outcome, name in re.findall(r'<g class="state (\w+)" data-state="([^"]+)"', page)}


def picture(pipeline: Pipeline) -> str:
    chain = pipeline.follow_chain(pipeline.start({}), timeout_s=240)
    definition = json.loads(pipeline.deployment.definition)
    executions = [(e["executionArn"], pipeline.history(e["executionArn"])) for e in chain]
    return graph.write(pipeline.options.output, definition, executions).read_text(encoding="utf-8")


RUNS: dict[str, tuple[dict[str, Any], str, dict[str, str], int]] = {
    # run: (pipeline options, headline class, expected state classes, caught-error edges drawn)
    "clean": (
        {},
        "succeeded",
        {"Run Batch": "ok", "Retry Batch?": "unvisited", "Publish Success": "ok", "Fail Execution": "unvisited"},
        0,
    ),
    "recovered": (
        {"kill_task_at_batch": frozenset({2})},
        "succeeded",
        {"Run Batch": "recovered", "Retry Batch?": "ok", "Publish Success": "ok", "Fail Execution": "unvisited"},
        1,
    ),
    "failed": (
        {"moodle_down_at_batch": 3},
        "failed",
        {
            "Run Batch": "failed",
            "Release Lock On Failure": "ok",
            "Publish Success": "unvisited",
            "Fail Execution": "failed",
        },
        1,
    ),
}


@pytest.mark.parametrize("run", RUNS)
def test_the_graph_tells_the_run_s_story_by_the_colour_of_each_state(make_pipeline: MakePipeline, run: str) -> None:
    options, status, expected, caught_edges = RUNS[run]
    page = picture(make_pipeline(employees=30, batch_size=10, **options))
    classes = state_classes(page)
    assert {name: classes[name] for name in expected} == expected
    assert f'<h2 class="execution {status}"' in page
    assert page.count('class="caught"') == caught_edges, "untaken Catch edges must not be drawn"


def test_local_run_max_suspensions_stops_the_window_and_allow_mass_suspend_lets_it_through(
    make_pipeline: MakePipeline,
) -> None:
    def with_leavers(**options: Any) -> Pipeline:
        """A backlog in which every employee an earlier sync gave an active account has left since."""
        pipeline = make_pipeline(employees=80, batch_size=20, max_suspensions=0, **options)
        assert pipeline.bamboohr is not None
        for user in pipeline.moodle_users():
            if user.get("idnumber") and not user.get("suspended"):
                pipeline.bamboohr.emulator.terminate(str(user["idnumber"]))
        return pipeline

    def suspended(pipeline: Pipeline) -> int:
        return sum(1 for u in pipeline.moodle_users() if u["suspended"])

    stopped = with_leavers()
    before = suspended(stopped)
    assert runner.run(stopped, runner.Progress(20, io.StringIO())) == 1
    assert [run.exit_code for run in stopped.tasks.runs] == [3], "the guard stopped the first task, not rerun"
    sfn = stopped.local.client("stepfunctions")
    (execution,) = sfn.list_executions(stateMachineArn=stopped.deployment.state_machine_arn)["executions"]
    cause = sfn.describe_execution(executionArn=execution["executionArn"])["cause"]
    assert "bamboohr-moodle-sync approve --stack bamboohr-moodle-sync-local --yes" in cause  # as the SNS message says
    assert "Guard: window 1970-01-01T00:00:00Z would suspend" in cause, "the guard's own summary, read by the ASL"
    assert re.search(r"would suspend \d+ active Moodle accounts \(employees \d+, \d+", cause), "a sample of ids"
    assert suspended(stopped) == before
    allowed = with_leavers(allow_mass_suspend=True)
    assert runner.run(allowed, runner.Progress(20, io.StringIO())) == 0
    assert suspended(allowed) > before + 3
