"""`make bench --quick` runs end to end on tiny sizes and writes valid results (no timing is asserted)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from bamboohr_moodle_sync.log import logger
from bench import run

if TYPE_CHECKING:
    from pathlib import Path

QUIETED = ("bamboohr_moodle_sync", "werkzeug", "moto")  # bench.services.quiet_task_logs


@pytest.fixture(autouse=True)
def restored_log_levels() -> Iterator[None]:
    """The bench quiets the task's logs in this process; later tests read them, so the levels come back."""
    levels = {name: logging.getLogger(name).level for name in QUIETED}
    level = logger.log_level
    yield
    logger.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


def test_quick_bench_writes_results_plots_and_report(tmp_path: Path) -> None:
    report = tmp_path / "BENCHMARKS.md"

    assert run.main(["--quick", "--out", str(tmp_path), "--markdown", str(report)]) == 0

    results = json.loads((tmp_path / "results.json").read_text())
    assert results["meta"]["mode"] == "quick"
    assert set(results["targets"]) == {"round_trips", "speedup", "rss", "events_per_batch", "lookups"}
    for drained in results["round_trips"]:
        assert drained["batches"] == -(-drained["employees"] // drained["batch_size"])
        assert drained["bamboohr_requests"] > 0 and drained["moodle_requests"] > 0
    assert all(r["reference"]["bamboohr_requests"] > r["reference"]["synced"] for r in results["wall_time"]["runs"])
    assert all(r["first_batch"]["peak_mb"] > 0 for r in results["rss"]["runs"])
    assert results["history"]["events_per_batch_median"] > 0
    assert {(r["emulator"], r["client"]) for r in results["lookups"]["runs"]} == {
        (e, c) for e in ("bamboohr", "moodle") for c in ("requests", "http.client")
    }
    assert all(r["per_s"] > 0 for r in results["lookups"]["runs"])
    slow, normal = (
        next(r for r in results["slow_mail"]["runs"] if r["scenario"] == s) for s in ("slow mail", "normal")
    )
    assert slow["created"] == normal["created"] > 0 and slow["failed"] == normal["failed"]
    assert slow["mailed"] == slow["created"] and slow["mailed_twice"] == 0
    assert slow["create_calls"] <= 2 * normal["create_calls"]
    (cohort_load,) = results["cohorts"]["runs"]
    assert cohort_load["memberships"] == 2 * cohort_load["counts"]["created"] > 0
    assert "## 1c. A first load with cohorts" in report.read_text()
    offline = results["webhooks"]["offline"]
    assert offline["bulk"]["n"] == offline["bulk"]["changes"] == 5  # every bulk edit reached Moodle
    assert offline["deliveries"] == 6  # one a change
    assert 2 <= offline["webhook_executions"] <= 3  # the single's, and the bulk's (two if it straddles a slot)
    assert "## 1d. Change to Moodle with webhooks" in report.read_text()
    assert results["recommendation"]["batch_size"] in results["meta"]["plan"]["sizes"]
    for name in ("round_trips", "wall_time", "memory", "model"):
        assert (tmp_path / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    assert "## Recommended BATCH_SIZE" in report.read_text()
