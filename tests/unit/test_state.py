from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from bamboohr_moodle_sync import state as state_module
from bamboohr_moodle_sync.errors import ConfigError
from bamboohr_moodle_sync.models import Change, ChangeList
from bamboohr_moodle_sync.state import NO_WATERMARK, FreezeLost, StaleBatch, StateStore, Watermark
from tests.aws import REGION, create_state_table

COUNTS = {"created": 2, "updated": 1, "suspended": 0, "reactivated": 0, "unchanged": 0, "skipped": 0, "failed": 1}
FIRST = Watermark("S", 0, NO_WATERMARK)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Iterator[StateStore]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        yield StateStore(client, create_state_table(client), clock=lambda: 1_000_000.0)


def changes(n: int, latest: str = "2026-01-01T00:00:59Z") -> ChangeList:
    entries = [Change(f"2026-01-01T00:00:{i % 60:02d}Z", str(i), "Updated") for i in range(n)]
    return ChangeList(latest, sorted(entries))


def failed(*ids: str, action: str = "Updated") -> list[Change]:
    return [Change("", i, action) for i in ids]  # type: ignore[arg-type]


def test_missing_watermark_reads_as_none(store: StateStore) -> None:
    assert store.read_watermark() is None


def test_snapshot_slices_are_read_back_in_order_across_chunks(
    store: StateStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(state_module, "SNAPSHOT_CHUNK_ENTRIES", 7)
    window = changes(30)
    snapshot = store.save_snapshot(FIRST, window, [])
    assert snapshot.total == 30
    assert store.read_snapshot("S") == snapshot
    assert store.read_changes(snapshot, 5, 10) == window.changes[5:15]
    assert store.read_changes(snapshot, 28, 10) == window.changes[28:]
    assert store.read_changes(snapshot, 30, 10) == []


def test_commit_moves_watermark_counts_its_version_and_sums_counters(store: StateStore) -> None:
    snapshot = store.save_snapshot(FIRST, changes(4), [])
    store.commit_batch(FIRST, Watermark("S", 2), snapshot, COUNTS, [])
    middle = store.read_watermark()
    assert middle == Watermark("S", 2)
    assert middle is not None and middle.version == 1
    store.commit_batch(middle, Watermark("L", 0), snapshot, COUNTS, [])
    assert store.read_watermark() == Watermark("L", 0)
    counters = store.read_counters("S")
    assert (counters["created"], counters["batches"], counters["total"]) == (4, 2, 4)
    assert store.read_snapshot("S") is None, "the final commit drops the header"


def test_a_second_commit_from_the_same_start_is_stale_and_changes_nothing(store: StateStore) -> None:
    snapshot = store.save_snapshot(FIRST, changes(4), [])
    store.commit_batch(FIRST, Watermark("S", 2), snapshot, COUNTS, [])
    with pytest.raises(StaleBatch):
        store.commit_batch(FIRST, Watermark("S", 2), snapshot, COUNTS, failed("9"))
    assert store.read_counters("S")["batches"] == 1
    assert store.read_retry_entries() == []


def test_a_commit_that_returns_to_its_own_start_still_happens_only_once(store: StateStore) -> None:
    store.commit_batch(FIRST, Watermark("S", 0), store.save_snapshot(FIRST, changes(1), []), COUNTS, [])
    current = store.read_watermark()
    assert current is not None
    snapshot = store.save_snapshot(current, changes(1, latest="S"), [])
    store.commit_batch(current, Watermark("S", 0), snapshot, COUNTS, [])  # latest == since: end == start
    with pytest.raises(StaleBatch):
        store.commit_batch(current, Watermark("S", 0), snapshot, COUNTS, [])


def test_freezing_after_the_watermark_moved_is_stale_and_keeps_the_retry_list(store: StateStore) -> None:
    snapshot = store.save_snapshot(FIRST, changes(2), [])
    store.commit_batch(FIRST, Watermark("L", 0), snapshot, COUNTS, failed("41"))
    with pytest.raises(StaleBatch):
        store.save_snapshot(FIRST, changes(2), failed("41", action="Retry"))
    assert [c.employee_id for c in store.read_retry_entries()] == ["41"]
    assert store.read_snapshot("S") is None


def test_a_rival_freeze_of_the_same_window_loses_and_the_winners_chunks_survive(store: StateStore) -> None:
    winner = store.save_snapshot(FIRST, changes(5), [])
    with pytest.raises(FreezeLost):
        store.save_snapshot(FIRST, changes(3), [])
    assert store.read_snapshot("S") == winner
    assert store.read_changes(winner, 0, 10) == changes(5).changes


def test_a_header_left_by_an_older_watermark_is_replaced(store: StateStore) -> None:
    store.save_snapshot(FIRST, changes(5), [])  # an unfinished window at S
    reset = Watermark("S", 0, 0)
    store._db.put_item(TableName="state", Item={"pk": {"S": "watermark"}, "since": {"S": "S"}, "offset": {"N": "0"}})
    fresh = store.save_snapshot(reset, changes(2), [])
    assert store.read_snapshot("S") == fresh


def test_freezing_takes_carried_entries_out_of_the_retry_list(store: StateStore) -> None:
    snapshot = store.save_snapshot(FIRST, changes(2), [])
    store.commit_batch(FIRST, Watermark("A", 0), snapshot, COUNTS, failed("41") + failed("42", action="Deleted"))
    assert sorted((c.employee_id, c.action) for c in store.read_retry_entries()) == [("41", "Retry"), ("42", "Deleted")]
    current = store.read_watermark()
    assert current is not None
    store.save_snapshot(current, changes(1), [Change("", "41", "Retry")])
    assert [(c.employee_id, c.action) for c in store.read_retry_entries()] == [("42", "Deleted")]


DENIED = (
    "User: arn:aws:sts::123456789012:assumed-role/sync-TaskRole/abc is not authorized to perform: "
    "dynamodb:GetItem on resource: arn:aws:dynamodb:us-east-1:123456789012:table/state because no "
    "identity-based policy allows the dynamodb:GetItem action"
)


def test_a_missing_table_is_a_configuration_error_naming_state_table(store: StateStore) -> None:
    client = boto3.client("dynamodb", region_name=REGION)
    with pytest.raises(ConfigError, match=f"STATE_TABLE=nope does not exist in region {REGION}"):
        StateStore(client, "nope").read_watermark()


def test_a_denied_call_is_a_configuration_error_keeping_awss_principal_action_and_resource() -> None:
    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("get_item", "AccessDeniedException", DENIED, 400)
        with pytest.raises(ConfigError) as error:
            StateStore(client, "state").read_watermark()
    assert (
        str(error.value)
        == f"STATE_TABLE=state: access denied ({DENIED}); allow that action on that resource in the task role"
    )


def test_throttling_is_not_a_configuration_error() -> None:
    client = boto3.client("dynamodb", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_client_error("get_item", "ProvisionedThroughputExceededException", "slow down", 400)
        with pytest.raises(ClientError):
            StateStore(client, "state").read_watermark()
