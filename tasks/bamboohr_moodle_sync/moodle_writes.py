"""Moodle writes whose answer may be lost, and create calls sized to stay inside the read timeout.

A write that timed out or lost its connection after it was sent (``WriteUnconfirmed``) may have landed, so it is
never resent blindly (the transport does not resend it either, ``http``). Instead:

- ``core_user_create_users`` is one transaction: its users appear together, when the call commits, which may be
  after the client stopped waiting. ``Writes.create`` looks the chunk's usernames up (with their idnumbers), again
  and again, until ``AWAIT_TIMEOUTS`` read timeouts have passed since it was sent; what landed counts as created
  (Moodle has mailed those users their passwords), and only the rest is sent again. Moodle's unique usernames mean
  a resend can never create a twin, but a resend made while the first call still runs fails as a whole once that
  call commits, hence the long wait.
- ``core_user_update_users`` sets values, so a second sending changes nothing; ``Writes.update`` still looks the
  users up by id once and resends only the records whose values are not there yet.

A create costs Moodle about 10 ms per user, but a slow mail relay makes it seconds per user (reference: 110 users
took 33.5 s at 0.25 s a mail). ``Pace`` measures each create call of the batch and limits later chunks to the
users that fit in ``TARGET_SHARE`` of the read timeout. Every lost answer, resend and limit is logged at WARNING
with counts (never names or e-mails). After ``MAX_UNCONFIRMED`` lost answers among a batch's creates (or among
its updates) the batch fails (``WriteUnconfirmed``): its rerun looks everything up again before it writes.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import WriteUnconfirmed
from .models import MoodleUser, RecordFailure

log = logging.getLogger("bamboohr_moodle_sync.moodle")

TARGET_SHARE = 0.5
"""Later create calls are sized to take at most this share of the read timeout: well inside it, with room for a
relay that slows down further."""

AWAIT_TIMEOUTS = 4
"""How long a create whose answer was lost is waited for, in read timeouts since it was sent. A call still mailing
commits within this unless it takes four times the timeout: for a batch's first chunk (110 users, sized by
``max_input_vars`` alone) at the default 60 s, a relay slower than about 2 s a mail."""

MAX_UNCONFIRMED = 3
"""Lost answers a batch's creates (or its updates) recover from; the next one fails the batch."""

Record = Mapping[str, object]
Created = tuple[str, int]


@dataclass
class Pace:
    """Seconds per created user, as measured in this batch, and the chunk size that keeps a call inside the timeout."""

    read_timeout: float
    per_user: float = 0.0

    def observe(self, users: int, seconds: float) -> None:
        """A call of ``users`` took ``seconds`` (or at least that long); the slowest rate seen is kept."""
        if users <= 0:
            return
        before = self.most()
        self.per_user = max(self.per_user, seconds / users)
        after = self.most()
        if after is not None and after < users and after != before:
            log.warning(
                "Moodle took %.2f s per created user; later create calls carry at most %d users each "
                "(%.0f%% of the %g s read timeout, MOODLE_TIMEOUT_SECONDS)",
                self.per_user,
                after,
                TARGET_SHARE * 100,
                self.read_timeout,
            )

    def most(self) -> int | None:
        """Users per create call that fit ``TARGET_SHARE`` of the read timeout; None before any measurement."""
        if self.per_user <= 0:
            return None
        return max(1, math.floor(self.read_timeout * TARGET_SHARE / self.per_user))


@dataclass
class Writes:
    """The recovery around one batch's create and update calls (``send_*`` make one call each)."""

    send_create: Callable[[list[Record]], list[Created | RecordFailure]]
    send_update: Callable[[list[Record]], list[RecordFailure]]
    find: Callable[[str, Sequence[str]], list[MoodleUser]]
    split: Callable[[list[Any], Callable[[list[Any]], list[Any]]], list[Any]]
    pace: Pace
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    unconfirmed: int = field(default=0, init=False)

    # -- creates -----------------------------------------------------------------------------------------------
    def create(self, chunk: list[Record]) -> list[Created | RecordFailure]:
        """One create call, measured; when its answer is lost, what landed plus the rest sent again."""
        started = self.clock()
        try:
            answer = self.send_create(chunk)
        except WriteUnconfirmed as lost:
            return self._recover_create(chunk, started, lost)
        self.pace.observe(len(chunk), self.clock() - started)
        return answer

    def _recover_create(
        self, chunk: list[Record], started: float, lost: WriteUnconfirmed
    ) -> list[Created | RecordFailure]:
        self._count_lost("core_user_create_users", len(chunk), lost)
        landed, seen_after = self._await_landed(chunk, started)
        if landed:
            self.pace.observe(len(landed), seen_after)
        else:
            self.pace.observe(len(chunk), lost.seconds)  # it had not answered by then, if it ran at all
        rest = [record for record in chunk if str(record["idnumber"]) not in landed]
        log.warning(
            "after the lost create answer: %d of %d users had been created; sending the other %d again",
            len(landed),
            len(chunk),
            len(rest),
        )
        outcomes: list[Created | RecordFailure] = list(landed.items())
        most = self.pace.most() or max(1, len(rest))
        for start in range(0, len(rest), most):
            outcomes += self.split(rest[start : start + most], self.create)
        return outcomes

    def _await_landed(self, chunk: list[Record], started: float) -> tuple[dict[str, int], float]:
        """The chunk's users Moodle holds (idnumber -> id), polling until they are there (a call's users commit
        together) or ``AWAIT_TIMEOUTS`` read timeouts have passed since it was sent."""
        wanted = {str(record["username"]): str(record["idnumber"]) for record in chunk}
        deadline = started + AWAIT_TIMEOUTS * self.pace.read_timeout
        wait = self.pace.read_timeout / 16
        polls = 0
        while True:
            polls += 1
            found = self.find("username", sorted(wanted))
            landed = {u.idnumber: u.id for u in found if wanted.get(u.username) == u.idnumber and u.idnumber}
            now = self.clock()
            if landed or now >= deadline:
                if not landed:
                    log.warning(
                        "none of the %d users appeared within %.0f s (%d lookups): taking the call as not committed",
                        len(chunk),
                        now - started,
                        polls,
                    )
                return landed, now - started
            self.sleep(min(wait, deadline - now))
            wait = min(wait * 2, self.pace.read_timeout / 4)

    def confirm_failures(self, records: Sequence[Record], failures: list[RecordFailure]) -> list[Created]:
        """After a lost answer, failed creates whose user exists after all (the lost call made them): created."""
        if not self.unconfirmed or not failures:
            return []
        failed = {f.employee_id for f in failures}
        wanted = {str(r["username"]): str(r["idnumber"]) for r in records if str(r["idnumber"]) in failed}
        found = self.find("username", sorted(wanted))
        exist = [(u.idnumber, u.id) for u in found if u.idnumber and wanted.get(u.username) == u.idnumber]
        if exist:
            log.warning("%d users reported failed exist after the lost create answer: counted created", len(exist))
        return exist

    # -- updates -----------------------------------------------------------------------------------------------
    def update(self, chunk: list[Record]) -> list[RecordFailure]:
        """One update call; when its answer is lost, only the records whose values are not in Moodle go again."""
        try:
            return self.send_update(chunk)
        except WriteUnconfirmed as lost:
            self._count_lost("core_user_update_users", len(chunk), lost)
        current = {u.id: u for u in self.find("id", [str(record["id"]) for record in chunk])}
        rest = [record for record in chunk if not _applied(record, current.get(int(str(record["id"]))))]
        log.warning(
            "after the lost update answer: %d of %d updates had been applied; sending the other %d again",
            len(chunk) - len(rest),
            len(chunk),
            len(rest),
        )
        return self.split(rest, self.update) if rest else []

    def _count_lost(self, function: str, records: int, lost: WriteUnconfirmed) -> None:
        self.unconfirmed += 1
        log.warning(
            "%s of %d records got no answer after %.1f s (Moodle at %s: %s); lost answer %d of at most %d; "
            "looking up what landed instead of resending",
            function,
            records,
            lost.seconds,
            lost.host,
            lost.detail,
            self.unconfirmed,
            MAX_UNCONFIRMED,
        )
        if self.unconfirmed > MAX_UNCONFIRMED:
            raise lost


def _applied(record: Record, user: MoodleUser | None) -> bool:
    if user is None:
        return False
    for name, value in record.items():
        if name == "id":
            continue
        if name == "suspended":
            if user.suspended != bool(value):
                return False
        elif name == "customfields":  # a date reads back as a Unix time: resent, which sets the same date again
            pairs = value if isinstance(value, list) else []
            if any(user.fields.get(f"profile_field_{p['type']}", "") != str(p["value"]) for p in pairs):
                return False
        elif (user.username if name == "username" else user.fields.get(name, "")) != str(value):
            return False
    return True
