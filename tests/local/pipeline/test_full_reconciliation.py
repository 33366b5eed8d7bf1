"""A full reconciliation end to end: the reconcile schedule's input {"mode": "full"} through the real state machine,
the batch task as processes and both emulators, against the demo's seeded drift (local/pipeline/drift.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bamboohr_moodle_sync.local.pipeline import drift
from bamboohr_moodle_sync.local.pipeline.offline import Pipeline
from bamboohr_moodle_sync.models import SETTLE_S
from bamboohr_moodle_sync.state import FULL_PREFIX

MakePipeline = Callable[..., Pipeline]


def drain(pipeline: Pipeline, execution_input: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    chain = pipeline.follow_chain(pipeline.start(execution_input), timeout_s=240)
    assert chain[-1]["status"] == "SUCCEEDED", chain[-1]
    return chain


def account(pipeline: Pipeline, idnumber: str) -> dict[str, Any]:
    (found,) = pipeline.moodle.emulator.users_by_idnumber(idnumber)  # type: ignore[union-attr]
    return found


@pytest.fixture
def drifted(make_pipeline: MakePipeline) -> tuple[Pipeline, drift.Drift]:
    """Incremental runs until BambooHR lists nobody, then one drift of each kind that no change list shows."""
    pipeline = make_pipeline(employees=40, batch_size=10)
    assert pipeline.bamboohr is not None and pipeline.moodle is not None
    contractor = drift.contractor_before_the_first_run(pipeline.bamboohr.emulator)
    drain(pipeline)
    pipeline.bamboohr.emulator.advance(SETTLE_S)  # the window's last second settles: the next lists nobody
    drain(pipeline)
    pipeline.sns_messages()
    mapping = pipeline.options.output / "mapping.toml"
    seeded = drift.seed_drift(pipeline.bamboohr.emulator, pipeline.moodle.emulator, mapping, contractor)
    assert None not in (seeded.renamed, seeded.reactivated, seeded.contractor)
    return pipeline, seeded


def drift_left(pipeline: Pipeline, seeded: drift.Drift) -> dict[str, bool]:
    """Each kind of drift: whether Moodle still shows it."""
    return {
        "renamed": "(edited by hand)" in account(pipeline, str(seeded.renamed))["firstname"],
        "reactivated": not account(pipeline, str(seeded.reactivated))["suspended"],
        "gone": not account(pipeline, seeded.gone)["suspended"],
        "contractor": not account(pipeline, str(seeded.contractor))["suspended"],
    }


def test_an_incremental_run_corrects_none_of_the_drift(drifted: tuple[Pipeline, drift.Drift]) -> None:
    pipeline, seeded = drifted
    drain(pipeline)
    assert drift_left(pipeline, seeded) == dict.fromkeys(("renamed", "reactivated", "gone", "contractor"), True)


def test_a_full_run_corrects_every_kind_of_drift(drifted: tuple[Pipeline, drift.Drift]) -> None:
    pipeline, seeded = drifted
    drain(pipeline, {"mode": "full"})
    assert drift_left(pipeline, seeded) == dict.fromkeys(("renamed", "reactivated", "gone", "contractor"), False)


def test_a_full_run_leaves_the_incremental_watermark_and_keeps_its_own(drifted: tuple[Pipeline, drift.Drift]) -> None:
    pipeline, _ = drifted
    before = pipeline.item("watermark")
    drain(pipeline, {"mode": "full"})
    assert pipeline.item("watermark") == before
    assert pipeline.watermark(FULL_PREFIX) == ("1970-01-01T00:00:00Z", 0)


def test_a_full_run_reports_the_drift_it_corrected_by_kind_with_employee_ids(
    drifted: tuple[Pipeline, drift.Drift],
) -> None:
    pipeline, seeded = drifted
    drain(pipeline, {"mode": "full"})
    [message] = pipeline.sns_messages()
    assert message["Subject"].startswith("[bamboohr-moodle-sync-local] full sync OK: ")
    samples = dict(
        line.strip().split(": ", 1) for line in message["Message"].split("Drift corrected")[1].splitlines()[1:] if line
    )
    assert set(samples["suspended"].split(", ")) == {str(seeded.reactivated), seeded.gone, str(seeded.contractor)}
    assert samples["updated"] == seeded.renamed
