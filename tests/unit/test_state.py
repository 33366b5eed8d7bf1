from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from bamboohr_moodle_sync import state as state_module
from bamboohr_moodle_sync.models import Change, ChangeList
from bamboohr_moodle_sync.state import StaleBatch, StateStore, Watermark
from tests.aws import REGION, create_state_table

COUNTS = {"created": 2, "updated": 1, "suspended": 0, "reactivated": 0, "unchanged": 0, "skipped": 0, "failed": 1}


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[StateStore]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        yield StateStore(client, create_state_table(client), clock=lambda: 1_000_000.0)


def changes(n: int) -> ChangeList:
    entries = [Change(f"2026-01-01T00:00:{i % 60:02d}Z", str(i), "Updated") for i in range(n)]
    return ChangeList("2026-01-01T00:00:59Z", sorted(entries))


def test_missing_watermark_reads_as_none(store: StateStore) -> None:
    assert store.read_watermark() is None


def test_snapshot_slices_are_read_back_in_order_across_chunks(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "SNAPSHOT_CHUNK_ENTRIES", 7)
    window = changes(30)
    snapshot = store.save_snapshot("S", window, [])
    assert snapshot.total == 30
    read = store.read_snapshot("S")
    assert read == snapshot
    assert store.read_changes(snapshot, 5, 10) == window.changes[5:15]
    assert store.read_changes(snapshot, 28, 10) == window.changes[28:]
    assert store.read_changes(snapshot, 30, 10) == []


def test_freezing_a_window_takes_carried_ids_out_of_the_retry_list(store: StateStore) -> None:
    store.commit_batch(
        Watermark("A", 0), True, Watermark("A", 1), store.save_snapshot("A", changes(2), []), COUNTS, ["41", "42"]
    )
    assert store.read_retry_ids() == {"41", "42"}
    store.save_snapshot("B", changes(1), ["41"])
    assert store.read_retry_ids() == {"42"}


def test_commit_moves_watermark_and_sums_counters_over_the_window(store: StateStore) -> None:
    snapshot = store.save_snapshot("S", changes(4), [])
    store.commit_batch(Watermark("S", 0), True, Watermark("S", 2), snapshot, COUNTS, [])
    store.commit_batch(Watermark("S", 2), False, Watermark("L", 0), snapshot, COUNTS, [])
    assert store.read_watermark() == Watermark("L", 0)
    counters = store.read_counters("S")
    assert counters["created"] == 4
    assert counters["batches"] == 2
    assert counters["total"] == 4


def test_a_second_commit_from_the_same_start_is_stale_and_changes_nothing(store: StateStore) -> None:
    snapshot = store.save_snapshot("S", changes(4), [])
    store.commit_batch(Watermark("S", 0), True, Watermark("S", 2), snapshot, COUNTS, [])
    with pytest.raises(StaleBatch):
        store.commit_batch(Watermark("S", 0), True, Watermark("S", 2), snapshot, COUNTS, ["9"])
    with pytest.raises(StaleBatch):
        store.commit_batch(Watermark("S", 0), False, Watermark("S", 2), snapshot, COUNTS, ["9"])
    assert store.read_watermark() == Watermark("S", 2)
    assert store.read_counters("S")["batches"] == 1
    assert store.read_retry_ids() == set()
