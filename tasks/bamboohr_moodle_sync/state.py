"""The pipeline's state in one DynamoDB table (partition key ``pk``); item layout in docs/contract.md.

    watermark              {since, offset}: where the next batch starts
    snapshot#<since>       the window's frozen change list: a header, then chunks snapshot#<since>#<i>
    window#<since>         the window's counters, summed over its batches
    retry                  employee ids whose sync failed, carried into the next window

A batch commits in one transaction: the watermark moves only if it still holds the ``(since, offset)``
the batch started from, and the counters and retry list change only together with it. A duplicated or
late task therefore fails that condition and changes nothing (``StaleBatch``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .errors import SyncError
from .models import Change, ChangeList

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SNAPSHOT_CHUNK_ENTRIES = 5_000  # about 200 KB a chunk: well under DynamoDB's 400 KB item limit
EXPIRY_SECONDS = 30 * 24 * 3600  # snapshots and counters outlive any window by far


@dataclass(frozen=True, slots=True)
class Watermark:
    since: str
    offset: int


class StaleBatch(Exception):
    """The watermark no longer holds the batch's starting point: another run already committed it."""


@dataclass(frozen=True)
class Snapshot:
    since: str
    latest: str | None
    total: int

    def chunk_range(self, offset: int, count: int) -> range:
        first = offset // SNAPSHOT_CHUNK_ENTRIES
        last = (min(offset + count, self.total) - 1) // SNAPSHOT_CHUNK_ENTRIES
        return range(first, max(first, last) + 1)


class StateStore:
    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time):
        self._db = client
        self._table = table
        self._clock = clock

    # -- watermark ---------------------------------------------------------------------------------------
    def read_watermark(self) -> Watermark | None:
        item = self._get("watermark")
        if item is None:
            return None
        return Watermark(item["since"]["S"], int(item["offset"]["N"]))

    # -- snapshot ----------------------------------------------------------------------------------------
    def read_snapshot(self, since: str) -> Snapshot | None:
        header = self._get(f"snapshot#{since}")
        if header is None:
            return None
        latest = header.get("latest", {}).get("S")
        return Snapshot(since, latest, int(header["total"]["N"]))

    def read_changes(self, snapshot: Snapshot, offset: int, count: int) -> list[Change]:
        """Entries ``[offset, offset + count)`` of the frozen change list, reading only the chunks they span."""
        if offset >= snapshot.total:
            return []
        first_index = snapshot.chunk_range(offset, count).start * SNAPSHOT_CHUNK_ENTRIES
        entries: list[Change] = []
        for index in snapshot.chunk_range(offset, count):
            item = self._get(f"snapshot#{snapshot.since}#{index}")
            if item is None:
                raise SyncError(
                    f"chunk {index} of the frozen change list of window {snapshot.since} is missing: "
                    "reset the watermark's offset to 0 to start the window again"
                )
            entries.extend(_decode_changes(item["entries"]["S"]))
        start = offset - first_index
        return entries[start : start + count]

    def save_snapshot(self, since: str, changes: ChangeList, carried_retry_ids: Iterable[str]) -> Snapshot:
        """Freeze the window's change list; the header, written last, makes it visible.

        The header's transaction also zeroes the window's counters and takes the carried ids out of the
        retry list, so a failed id lives in exactly one place: the retry list or a frozen window.
        The final batch's commit deletes the header.
        """
        expires = self._expiry()
        for index in range(0, len(changes.changes), SNAPSHOT_CHUNK_ENTRIES):
            chunk = changes.changes[index : index + SNAPSHOT_CHUNK_ENTRIES]
            self._db.put_item(
                TableName=self._table,
                Item={
                    "pk": {"S": f"snapshot#{since}#{index // SNAPSHOT_CHUNK_ENTRIES}"},
                    "entries": {"S": _encode_changes(chunk)},
                    "ttl": {"N": str(expires)},
                },
            )
        header: dict[str, Any] = {
            "pk": {"S": f"snapshot#{since}"},
            "total": {"N": str(len(changes.changes))},
            "ttl": {"N": str(expires)},
        }
        if changes.latest:
            header["latest"] = {"S": changes.latest}
        counters: dict[str, Any] = {
            "pk": {"S": f"window#{since}"},
            "total": {"N": str(len(changes.changes))},
            "ttl": {"N": str(expires)},
        }
        if changes.latest:
            counters["latest"] = {"S": changes.latest}
        writes: list[Any] = [
            {"Put": {"TableName": self._table, "Item": header}},
            {"Put": {"TableName": self._table, "Item": counters}},  # a window that reuses a since starts at zero
        ]
        carried = sorted(set(carried_retry_ids))
        if carried:
            writes.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": "retry"}},
                        "UpdateExpression": "DELETE ids :carried",
                        "ExpressionAttributeValues": {":carried": {"SS": carried}},
                    }
                }
            )
        self._db.transact_write_items(TransactItems=writes)
        return Snapshot(since, changes.latest, len(changes.changes))

    # -- retry list --------------------------------------------------------------------------------------
    def read_retry_ids(self) -> set[str]:
        item = self._get("retry")
        return set(item["ids"]["SS"]) if item and "ids" in item else set()

    # -- window counters ---------------------------------------------------------------------------------
    def read_counters(self, since: str) -> dict[str, int]:
        item = self._get(f"window#{since}") or {}
        return {name: int(value["N"]) for name, value in item.items() if "N" in value and name != "ttl"}

    # -- commit ------------------------------------------------------------------------------------------
    def commit_batch(
        self,
        start: Watermark,
        started_from_missing: bool,
        end: Watermark,
        snapshot: Snapshot,
        counts: Mapping[str, int],
        failed_ids: Iterable[str],
    ) -> None:
        """Move the watermark from ``start`` to ``end`` with the batch's counters and failures, atomically."""
        names = {"#since": "since", "#offset": "offset"}
        if started_from_missing:
            condition = "attribute_not_exists(pk)"
            values: dict[str, Any] = {}
        else:
            condition = "#since = :start_since AND #offset = :start_offset"
            values = {":start_since": {"S": start.since}, ":start_offset": {"N": str(start.offset)}}
        values.update({":since": {"S": end.since}, ":offset": {"N": str(end.offset)}})
        writes: list[Any] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": {"pk": {"S": "watermark"}},
                    "UpdateExpression": "SET #since = :since, #offset = :offset",
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {"Update": self._counters_update(start.since, snapshot, counts)},
        ]
        if end.offset == 0:
            # The window is done: the next one freezes its own change list, even if its since is the same.
            writes.append({"Delete": {"TableName": self._table, "Key": {"pk": {"S": f"snapshot#{start.since}"}}}})
        failed = sorted(set(failed_ids))
        if failed:
            writes.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": "retry"}},
                        "UpdateExpression": "ADD ids :failed",
                        "ExpressionAttributeValues": {":failed": {"SS": failed}},
                    }
                }
            )
        try:
            self._db.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])
            if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
                raise StaleBatch(f"the watermark moved past {start.since} offset {start.offset}") from exc
            raise

    def _counters_update(self, since: str, snapshot: Snapshot, counts: Mapping[str, int]) -> dict[str, Any]:
        additions = {**counts, "batches": 1}
        names = {f"#c{i}": name for i, name in enumerate(additions)}
        values: dict[str, Any] = {f":c{i}": {"N": str(additions[name])} for i, name in enumerate(additions)}
        values.update({":total": {"N": str(snapshot.total)}, ":ttl": {"N": str(self._expiry())}})
        set_parts = ["#total = :total", "#ttl = :ttl"]
        names.update({"#total": "total", "#ttl": "ttl"})
        if snapshot.latest:
            values[":latest"] = {"S": snapshot.latest}
            names["#latest"] = "latest"
            set_parts.append("#latest = :latest")
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": f"window#{since}"}},
            "UpdateExpression": "SET "
            + ", ".join(set_parts)
            + " ADD "
            + ", ".join(f"#c{i} :c{i}" for i in range(len(additions))),
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _get(self, pk: str) -> dict[str, Any] | None:
        response = self._db.get_item(TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        return response.get("Item")

    def _expiry(self) -> int:
        return int(self._clock()) + EXPIRY_SECONDS


def _encode_changes(changes: Iterable[Change]) -> str:
    return "\n".join(f"{c.last_changed}\t{c.employee_id}\t{c.action}" for c in changes)


def _decode_changes(text: str) -> list[Change]:
    entries = []
    for line in text.splitlines():
        last_changed, employee_id, action = line.split("\t")
        entries.append(Change(last_changed, employee_id, action))  # type: ignore[arg-type]
    return entries
