"""The pipeline's state in one DynamoDB table (partition key ``pk``); item layout in docs/contract.md.

    watermark                    {since, offset, v}: where the next batch starts; v counts commits
    snapshot#<since>             the window's frozen change list: a header naming its freeze ...
    snapshot#<since>#<freeze>#<i>  ... and that freeze's chunks
    window#<since>               the window's counters, summed over its batches
    retry                        employee ids whose sync failed (``<id>`` or ``<id>#Deleted``), with reasons
    lock                         {owner, expires_at}: the execution (or ``sync-one``) that may sync now
    approval                     {since, freeze}: the one frozen window an operator let past the guard
    full#watermark, full#snapshot#..., full#window#..., full#approval  the same for the full reconciliation
                                 (SYNC_MODE=full), so it never moves the incremental watermark, resumes at its own
                                 offset, and an approval of either kind of window never replaces the other's

Every write that matters is one transaction conditional on the watermark the batch started from,
version included: a freeze, and a batch's commit (watermark, counters and retry list together). So a
duplicated, retried or late task can neither move the watermark twice nor freeze a window again once
it has moved on (``StaleBatch``). Two tasks freezing the same window at once write their chunks under
their own freeze ids; the header's condition lets one win and the other adopts it (``FreezeLost``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from .aws_errors import config_error
from .errors import SyncError
from .models import Change, ChangeList

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

SNAPSHOT_CHUNK_ENTRIES = 5_000  # about 200 KB a chunk: well under DynamoDB's 400 KB item limit
EXPIRY_SECONDS = 30 * 24 * 3600  # snapshots and counters outlive any window by far
NO_WATERMARK = -1  # the version of a watermark that does not exist yet
_DELETED = "#Deleted"
_LOCK_IS_FREE = "attribute_not_exists(pk) OR expires_at < :now"
FULL_PREFIX = "full#"  # a full reconciliation's own watermark, snapshot and window items


def lock_time(epoch: float) -> str:
    """``expires_at``'s form, as the state machine's ``$fromMillis`` writes it: ISO-8601 UTC with milliseconds."""
    moment = datetime.fromtimestamp(epoch, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Lock:
    owner: str
    expires_at: str

    def live(self, now: float) -> bool:
        return self.expires_at >= lock_time(now)


class LockHeld(Exception):
    """A live lock is held by someone else."""


@dataclass(frozen=True, slots=True)
class Watermark:
    since: str
    offset: int
    version: int = field(default=NO_WATERMARK, compare=False)


class StaleBatch(Exception):
    """The watermark no longer holds the batch's starting point: another run already moved it."""


class FreezeLost(Exception):
    """Another task froze this window first; use its snapshot."""


@dataclass(frozen=True)
class Snapshot:
    since: str
    latest: str | None
    total: int
    freeze_id: str = ""
    version: int = NO_WATERMARK
    """The watermark version the window was frozen at."""

    def chunk_range(self, offset: int, count: int) -> range:
        first = offset // SNAPSHOT_CHUNK_ENTRIES
        last = (min(offset + count, self.total) - 1) // SNAPSHOT_CHUNK_ENTRIES
        return range(first, max(first, last) + 1)


class StateStore:
    """The state table's items; with ``prefix`` (``FULL_PREFIX``) the watermark, snapshot and window items are
    another run's own (a full reconciliation's), while the retry list and the lock stay shared."""

    def __init__(self, client: DynamoDBClient, table: str, clock: Callable[[], float] = time.time, *, prefix: str = ""):
        self._db = client
        self._table = table
        self._clock = clock
        self._prefix = prefix

    def _key(self, name: str) -> str:
        return self._prefix + name

    def full(self) -> StateStore:
        """The same table's full-reconciliation items (``FULL_PREFIX``)."""
        return StateStore(self._db, self._table, self._clock, prefix=FULL_PREFIX)

    # -- watermark ---------------------------------------------------------------------------------------
    def read_watermark(self) -> Watermark | None:
        item = self._get(self._key("watermark"))
        if item is None:
            return None
        return Watermark(item["since"]["S"], int(item["offset"]["N"]), int(item.get("v", {}).get("N", 0)))

    # -- snapshot ----------------------------------------------------------------------------------------
    def read_snapshot(self, since: str) -> Snapshot | None:
        header = self._get(self._key(f"snapshot#{since}"))
        if header is None:
            return None
        return Snapshot(
            since,
            header.get("latest", {}).get("S"),
            int(header["total"]["N"]),
            header.get("freeze", {}).get("S", ""),
            int(header.get("v", {}).get("N", NO_WATERMARK)),
        )

    def read_changes(self, snapshot: Snapshot, offset: int, count: int) -> list[Change]:
        """Entries ``[offset, offset + count)`` of the frozen change list, reading only the chunks they span."""
        if offset >= snapshot.total:
            return []
        first_index = snapshot.chunk_range(offset, count).start * SNAPSHOT_CHUNK_ENTRIES
        entries: list[Change] = []
        for index in snapshot.chunk_range(offset, count):
            item = self._get(self._key(f"snapshot#{snapshot.since}#{snapshot.freeze_id}#{index}"))
            if item is None:
                raise SyncError(
                    f"chunk {index} of the frozen change list of window {snapshot.since} is missing: "
                    "reset the watermark's offset to 0 to start the window again"
                )
            entries.extend(_decode_changes(item["entries"]["S"]))
        start = offset - first_index
        return entries[start : start + count]

    def save_snapshot(self, start: Watermark, changes: ChangeList, carried: Iterable[Change]) -> Snapshot:
        """Freeze the window's change list; the header, written last, makes it visible.

        The header's transaction also zeroes the window's counters and takes the carried entries out of the
        retry list, so a failed id lives in exactly one place: the retry list or a frozen window. It holds
        only while the watermark is still ``start`` (else ``StaleBatch``) and no other task froze the window
        at this watermark (else ``FreezeLost``). The final batch's commit deletes the header.
        """
        since, expires, freeze_id = start.since, self._expiry(), uuid.uuid4().hex[:12]
        for index in range(0, len(changes.changes), SNAPSHOT_CHUNK_ENTRIES):
            with self._configured():
                self._db.put_item(
                    TableName=self._table,
                    Item={
                        "pk": {"S": self._key(f"snapshot#{since}#{freeze_id}#{index // SNAPSHOT_CHUNK_ENTRIES}")},
                        "entries": {"S": _encode_changes(changes.changes[index : index + SNAPSHOT_CHUNK_ENTRIES])},
                        "ttl": {"N": str(expires)},
                    },
                )
        total, latest = {"N": str(len(changes.changes))}, {"S": changes.latest} if changes.latest else None
        header: dict[str, Any] = {
            "pk": {"S": self._key(f"snapshot#{since}")},
            "total": total,
            "freeze": {"S": freeze_id},
            "v": {"N": str(start.version)},
            "ttl": {"N": str(expires)},
        }
        counters: dict[str, Any] = {
            "pk": {"S": self._key(f"window#{since}")},
            "total": total,
            "ttl": {"N": str(expires)},
        }
        if latest:
            header["latest"] = counters["latest"] = latest
        writes: list[Any] = [
            {"ConditionCheck": {"TableName": self._table, **_watermark_is(start, self._prefix)}},
            {
                "Put": {
                    "TableName": self._table,
                    "Item": header,
                    # A header left by another watermark version is stale; one at this version is a rival freeze.
                    "ConditionExpression": "attribute_not_exists(pk) OR #v <> :v",
                    "ExpressionAttributeNames": {"#v": "v"},
                    "ExpressionAttributeValues": {":v": {"N": str(start.version)}},
                }
            },
            {"Put": {"TableName": self._table, "Item": counters}},  # a window that reuses a since starts at zero
        ]
        carried_entries = sorted({_retry_entry(change) for change in carried})
        if carried_entries:
            writes.append(self._retry_update("DELETE", carried_entries, self._reasons_of(carried_entries)))
        reasons = self._transact(writes)
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise StaleBatch(f"the watermark moved past {start.since} offset {start.offset} before the freeze")
        if reasons and reasons[1] == "ConditionalCheckFailed":
            raise FreezeLost(f"another task froze window {since} first")
        return Snapshot(since, changes.latest, len(changes.changes), freeze_id, start.version)

    # -- retry list --------------------------------------------------------------------------------------
    def read_retry_entries(self) -> list[Change]:
        """Earlier failures as change-list entries: ``Deleted`` where a suspension failed, else ``Retry``."""
        item = self._get("retry")
        entries = item["ids"]["SS"] if item and "ids" in item else []
        return [
            Change("", entry.removesuffix(_DELETED), "Deleted" if entry.endswith(_DELETED) else "Retry")
            for entry in entries
        ]

    def read_retry_reasons(self) -> dict[str, str]:
        """Employee id -> why its sync failed, as the batch logged it (several reasons joined by "; ")."""
        item = self._get("retry")
        reasons: dict[str, list[str]] = {}
        for entry in item["why"]["SS"] if item and "why" in item else []:
            retry_id, _, reason = entry.partition("\t")
            reasons.setdefault(retry_id.removesuffix(_DELETED), []).append(reason)
        return {employee_id: "; ".join(sorted(texts)) for employee_id, texts in reasons.items()}

    # -- lock --------------------------------------------------------------------------------------------
    def read_lock(self) -> Lock | None:
        item = self._get("lock")
        if item is None:
            return None
        return Lock(item.get("owner", {}).get("S", ""), item.get("expires_at", {}).get("S", ""))

    def take_lock(self, owner: str, seconds: int) -> Lock:
        """Take the lock as the state machine's Acquire Lock does: only when it is free or expired (``LockHeld``).
        A webhook's ``pending_at`` on the item is kept."""
        now = self._clock()
        lock = Lock(owner, lock_time(now + seconds))
        if not self._update_lock(
            "SET #o = :owner, expires_at = :expires",
            _LOCK_IS_FREE,
            {":owner": {"S": lock.owner}, ":expires": {"S": lock.expires_at}, ":now": {"S": lock_time(now)}},
        ):
            raise LockHeld(f"the lock is held by {self._lock_owner()}")
        return lock

    def release_lock(self, lock: Lock) -> bool:
        """Free exactly this lock (owner and expiry): False when it changed since it was read. The item is deleted,
        unless a webhook left ``pending_at`` on it: then it is kept, expired, so the next execution runs that sync."""
        values = {":owner": {"S": lock.owner}, ":expires": {"S": lock.expires_at}}
        this_lock = "#o = :owner AND expires_at = :expires"
        try:
            with self._configured():
                self._db.delete_item(
                    TableName=self._table,
                    Key={"pk": {"S": "lock"}},
                    ConditionExpression=f"{this_lock} AND attribute_not_exists(pending_at)",
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues=values,
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            now = {":now": {"S": lock_time(self._clock() - 1)}}
            return self._update_lock("SET expires_at = :now", this_lock, values | now)
        return True

    def _update_lock(self, update: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional ``UpdateItem`` of the lock item; False when the condition did not hold."""
        try:
            with self._configured():
                self._db.update_item(
                    TableName=self._table,
                    Key={"pk": {"S": "lock"}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#o": "owner"},
                    ExpressionAttributeValues=values,
                )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def _lock_owner(self) -> str:
        lock = self.read_lock()
        return f"{lock.owner} until {lock.expires_at}" if lock else "another run"

    # -- operator's changes ------------------------------------------------------------------------------
    def reset_watermark(self, current: Watermark | None, since: str) -> Watermark:
        """Start a new window at ``since`` (offset 0), if the watermark is still ``current`` (else ``StaleBatch``)
        and no live lock is held (else ``LockHeld``). The version moves on, so the window is frozen afresh.

        Earlier failures the unfinished window carried and had not reached yet go back to the retry list, so the
        next window retries them: the reset abandons that window's frozen list."""
        start = current or Watermark(since, 0, NO_WATERMARK)
        condition = _watermark_is(start, self._prefix)
        condition.pop("Key")
        version = max(start.version, 0) + 1
        item = {
            "pk": {"S": self._key("watermark")},
            "since": {"S": since},
            "offset": {"N": "0"},
            "v": {"N": str(version)},
        }
        writes: list[Any] = [
            {"ConditionCheck": self._lock_is_free()},
            {"Put": {"TableName": self._table, "Item": item, **condition}},
        ]
        carried = sorted({_retry_entry(c) for c in self._unreached_retries(current)})
        if carried:
            writes.append(self._retry_update("ADD", carried, []))
        reasons = self._transact(writes)
        if reasons and reasons[0] == "ConditionalCheckFailed":
            raise LockHeld(f"the lock is held by {self._lock_owner()}")
        if reasons:
            raise StaleBatch("the watermark moved while it was being reset")
        return Watermark(since, 0, version)

    def _unreached_retries(self, current: Watermark | None) -> list[Change]:
        """The retry entries (no ``lastChanged``) of the watermark's frozen window from its offset on."""
        snapshot = self.read_snapshot(current.since) if current is not None else None
        if current is None or snapshot is None or (current.offset == 0 and snapshot.version != current.version):
            return []
        rest = self.read_changes(snapshot, current.offset, snapshot.total - current.offset)
        return [change for change in rest if not change.last_changed]

    def approve(self, snapshot: Snapshot) -> None:
        """Let exactly this frozen window past the suspension guard; ``StaleBatch`` when it was frozen again."""
        reasons = self._transact(
            [
                {
                    "ConditionCheck": {
                        "TableName": self._table,
                        "Key": {"pk": {"S": self._key(f"snapshot#{snapshot.since}")}},
                        "ConditionExpression": "#f = :freeze",
                        "ExpressionAttributeNames": {"#f": "freeze"},
                        "ExpressionAttributeValues": {":freeze": {"S": snapshot.freeze_id}},
                    }
                },
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": {
                            "pk": {"S": self._key("approval")},
                            "since": {"S": snapshot.since},
                            "freeze": {"S": snapshot.freeze_id},
                            "ttl": {"N": str(self._expiry())},
                        },
                    }
                },
            ]
        )
        if reasons:
            raise StaleBatch(f"window {snapshot.since} was frozen again or finished before the approval")

    def is_approved(self, snapshot: Snapshot) -> bool:
        """Whether an operator approved this very freeze of the window (``approve``)."""
        item = self._get(self._key("approval"))
        return (
            item is not None
            and bool(snapshot.freeze_id)
            and (item.get("since", {}).get("S"), item.get("freeze", {}).get("S"))
            == (snapshot.since, snapshot.freeze_id)
        )

    def _lock_is_free(self) -> dict[str, Any]:
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": "lock"}},
            "ConditionExpression": _LOCK_IS_FREE,
            "ExpressionAttributeValues": {":now": {"S": lock_time(self._clock())}},
        }

    # -- window counters ---------------------------------------------------------------------------------
    def read_counters(self, since: str) -> dict[str, int]:
        item = self._get(self._key(f"window#{since}")) or {}
        return {name: int(value["N"]) for name, value in item.items() if "N" in value and name != "ttl"}

    def read_samples(self, since: str) -> dict[str, list[str]]:
        """Kind -> the employee ids the window's batches kept as samples of what they corrected (``commit_batch``)."""
        item = self._get(self._key(f"window#{since}")) or {}
        return {name.removeprefix("sample_"): sorted(v["SS"]) for name, v in item.items() if name.startswith("sample_")}

    def record_guard_stop(self, since: str, summary: str) -> None:
        """Keep why a guard stopped window ``since`` on its counters item, for the state machine's failure report."""
        with self._configured():
            self._db.update_item(
                TableName=self._table,
                Key={"pk": {"S": self._key(f"window#{since}")}},
                UpdateExpression="SET #stop = :stop, #ttl = if_not_exists(#ttl, :ttl)",
                ExpressionAttributeNames={"#stop": "guard_stop", "#ttl": "ttl"},
                ExpressionAttributeValues={":stop": {"S": summary}, ":ttl": {"N": str(self._expiry())}},
            )

    def read_guard_stop(self, since: str) -> str | None:
        item = self._get(self._key(f"window#{since}")) or {}
        return str(item["guard_stop"]["S"]) if "guard_stop" in item else None

    # -- commit ------------------------------------------------------------------------------------------
    def commit_batch(
        self,
        start: Watermark,
        end: Watermark,
        snapshot: Snapshot,
        counts: Mapping[str, int],
        failed: Iterable[Change],
        reasons: Mapping[str, str] | None = None,
        samples: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """Move the watermark from ``start`` to ``end`` with the batch's counters and failures (and why each
        failed, by employee id, for ``status``), atomically. ``samples`` (kind -> employee ids) join the window
        item's ``sample_<kind>`` sets, for a full run's report."""
        moved = _watermark_is(start, self._prefix)
        moved["UpdateExpression"] = "SET #since = :since, #offset = :offset, #v = :next"
        moved.setdefault("ExpressionAttributeNames", {}).update({"#since": "since", "#offset": "offset", "#v": "v"})
        moved["ExpressionAttributeValues"] = moved.get("ExpressionAttributeValues", {}) | {
            ":since": {"S": end.since},
            ":offset": {"N": str(end.offset)},
            ":next": {"N": str(max(start.version, 0) + 1)},
        }
        writes: list[Any] = [
            {"Update": {"TableName": self._table, **moved}},
            {"Update": self._counters_update(start.since, snapshot, counts, samples or {})},
        ]
        if end.offset == 0:
            # The window is done: the next one freezes its own change list, even if its since is the same.
            writes.append(
                {"Delete": {"TableName": self._table, "Key": {"pk": {"S": self._key(f"snapshot#{start.since}")}}}}
            )
        failed, why_failed = list(failed), reasons or {}
        failed_entries = sorted({_retry_entry(change) for change in failed})
        if failed_entries:
            why = {f"{_retry_entry(c)}\t{why_failed[c.employee_id]}" for c in failed if c.employee_id in why_failed}
            writes.append(self._retry_update("ADD", failed_entries, sorted(why)))
        cancelled = self._transact(writes)
        if cancelled and cancelled[0] == "ConditionalCheckFailed":
            raise StaleBatch(f"the watermark moved past {start.since} offset {start.offset}")

    def _counters_update(
        self, since: str, snapshot: Snapshot, counts: Mapping[str, int], samples: Mapping[str, Sequence[str]]
    ) -> dict[str, Any]:
        additions = {**counts, "batches": 1}
        names = {f"#c{i}": name for i, name in enumerate(additions)} | {"#total": "total", "#ttl": "ttl"}
        values: dict[str, Any] = {f":c{i}": {"N": str(additions[name])} for i, name in enumerate(additions)}
        kept = [(kind, ids) for kind, ids in samples.items() if ids]
        names |= {f"#s{i}": f"sample_{kind}" for i, (kind, _) in enumerate(kept)}
        values |= {f":s{i}": {"SS": sorted(set(ids))} for i, (_, ids) in enumerate(kept)}
        values |= {":total": {"N": str(snapshot.total)}, ":ttl": {"N": str(self._expiry())}}
        set_parts = ["#total = :total", "#ttl = :ttl"]
        if snapshot.latest:
            values[":latest"] = {"S": snapshot.latest}
            names["#latest"] = "latest"
            set_parts.append("#latest = :latest")
        adds = ", ".join([f"#c{i} :c{i}" for i in range(len(additions))] + [f"#s{i} :s{i}" for i in range(len(kept))])
        return {
            "TableName": self._table,
            "Key": {"pk": {"S": self._key(f"window#{since}")}},
            "UpdateExpression": f"SET {', '.join(set_parts)} ADD {adds}",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }

    def _retry_update(self, action: str, entries: list[str], why: list[str]) -> dict[str, Any]:
        values: dict[str, Any] = {":entries": {"SS": entries}}
        expression = f"{action} ids :entries"
        if why:
            values[":why"] = {"SS": why}
            expression += ", why :why"
        return {
            "Update": {
                "TableName": self._table,
                "Key": {"pk": {"S": "retry"}},
                "UpdateExpression": expression,
                "ExpressionAttributeValues": values,
            }
        }

    def _reasons_of(self, entries: list[str]) -> list[str]:
        """The retry item's reasons recorded for these entries (``<entry>\t<reason>``)."""
        item = self._get("retry")
        wanted = set(entries)
        return sorted(w for w in (item["why"]["SS"] if item and "why" in item else []) if w.split("\t")[0] in wanted)

    def _transact(self, writes: list[Any]) -> list[str]:
        """Run the transaction; the cancellation reason codes per write if a condition failed, else []."""
        try:
            with self._configured():
                self._db.transact_write_items(TransactItems=writes)
        except ClientError as exc:
            reasons = [reason.get("Code", "None") for reason in exc.response.get("CancellationReasons", [])]
            if "ConditionalCheckFailed" not in reasons:
                raise
            return reasons
        return []

    def _get(self, pk: str) -> dict[str, Any] | None:
        with self._configured():
            response = self._db.get_item(TableName=self._table, Key={"pk": {"S": pk}}, ConsistentRead=True)
        return response.get("Item")

    @contextmanager
    def _configured(self) -> Iterator[None]:
        """A missing table, a denied call or unknown credentials: ``ConfigError`` naming STATE_TABLE (exit 2)."""
        try:
            yield
        except (ClientError, BotoCoreError) as exc:
            error = config_error(exc, f"STATE_TABLE={self._table}", self._db.meta.region_name)
            if error is None:
                raise
            raise error from exc

    def _expiry(self) -> int:
        return int(self._clock()) + EXPIRY_SECONDS


def _watermark_is(start: Watermark, prefix: str = "") -> dict[str, Any]:
    """Key and condition: the watermark item still holds ``start``, version included (a missing item: absent)."""
    key = {"pk": {"S": f"{prefix}watermark"}}
    if start.version == NO_WATERMARK:
        return {"Key": key, "ConditionExpression": "attribute_not_exists(pk)"}
    # An item written by hand (a reset with put-item) has no v: it counts as version 0.
    version = "(#v = :v OR attribute_not_exists(#v))" if start.version == 0 else "#v = :v"
    return {
        "Key": key,
        "ConditionExpression": f"#since = :start_since AND #offset = :start_offset AND {version}",
        "ExpressionAttributeNames": {"#since": "since", "#offset": "offset", "#v": "v"},
        "ExpressionAttributeValues": {
            ":start_since": {"S": start.since},
            ":start_offset": {"N": str(start.offset)},
            ":v": {"N": str(start.version)},
        },
    }


def _retry_entry(change: Change) -> str:
    return change.employee_id + (_DELETED if change.action == "Deleted" else "")


def _encode_changes(changes: Iterable[Change]) -> str:
    return "\n".join(f"{c.last_changed}\t{c.employee_id}\t{c.action}" for c in changes)


def _decode_changes(text: str) -> list[Change]:
    entries = []
    for line in text.splitlines():
        last_changed, employee_id, action = line.split("\t")
        entries.append(Change(last_changed, employee_id, action))  # type: ignore[arg-type]
    return entries
