"""A local BambooHR: the four API operations the sync uses, served over real HTTP by ``EmulatorServer``.

Every rule is grounded in /work/shared/reference/bamboohr.md and the official OpenAPI spec beside it:

* Root ``{server.url}/api/gateway.php/{companyDomain}/v1/...`` (the real gateway form).
* HTTP Basic auth, API key as user name and any password; 401 without a known key; per-key 403 (forbidden
  key, or no custom-report permission) and per-key hidden fields, silently left out of every answer.
* ``GET employees/changed``, ``POST reports/custom``, ``GET employees/{id}``, ``GET employees/directory``.
* Errors are a status with an ``X-BambooHR-Error-Message`` header; every answer carries ``x-request-id``.
* Without ``Accept: application/json`` the GET operations answer XML, as the real API does.
* Change list: ``since`` is inclusive (undocumented upstream; the harsher case); with nothing changed ``latest``
  is ``since`` in UTC (the spec requires a date-time). Deleted records stay there as Deleted, gone elsewhere.

Not emulated: csv/xls/pdf reports (501), the company-wide lockout after repeated unknown keys, future hires
turning Active on their start date (call ``update(id, status="Active")``), and ``x-request-id`` on the faults
``EmulatorServer`` injects itself.

Timestamps are whole seconds in UTC (``...+00:00``) from an injectable clock, which also dates every answer
(``Date``); ``ManualClock`` (the default) starts at ``DEFAULT_START`` so tests are exact and moves only with
``advance()``; ``RunningClock`` (``emulate``) moves as time passes.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING, Protocol

from bamboohr_moodle_sync.local.bamboohr.api import FIELD_TYPES, ApiKey, EmployeeRecord, handle_request
from bamboohr_moodle_sync.local.bamboohr.employees import generate_employees
from bamboohr_moodle_sync.local.bamboohr.webhooks import WebhookSender
from bamboohr_moodle_sync.local.server import EmulatorServer, Faults, Request, Response

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

DEFAULT_START = datetime(2026, 1, 5, 9, 0, 0, tzinfo=UTC)
DEFAULT_COMPANY_DOMAIN = "acme"
DEFAULT_API_KEY = "emulator-api-key"
EDITABLE_FIELDS = frozenset(FIELD_TYPES) - {"id", "lastChanged"}


class Clock(Protocol):
    def now(self) -> datetime: ...

    def advance(self, seconds: float) -> None: ...


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)


class RunningClock:
    """A clock that moves as time passes, from ``start`` (default: the machine's time); ``advance`` jumps it.
    ``ticker`` (seconds, monotonic) measures the passing time."""

    def __init__(self, start: datetime | None = None, ticker: Callable[[], float] = time.monotonic) -> None:
        self._start = start or datetime.now(UTC)
        self._ticker = ticker
        self._started = ticker()
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._ticker() - self._started)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._start += timedelta(seconds=seconds)


class BambooHREmulator:
    """BambooHR's state (employees, keys, clock) and its HTTP handler; call it with a ``Request``."""

    def __init__(
        self,
        company_domain: str = DEFAULT_COMPANY_DOMAIN,
        api_key: str = DEFAULT_API_KEY,
        clock: Clock | None = None,
        seed: int = 0,
    ) -> None:
        self.company_domain = company_domain
        self.clock: Clock = clock or ManualClock()
        self.directory_shared = True  # False: the directory answers 403, as when it is not shared company-wide
        self.api_keys: dict[str, ApiKey] = {}
        self.lock = threading.RLock()
        self._records: dict[str, EmployeeRecord] = {}
        self._ids = itertools.count(1)
        self._seed = seed
        self.add_api_key(api_key)
        self.default_api_key = api_key
        self.webhook: WebhookSender | None = None  # a registered webhook: each change is posted to it, signed

    # -- keys and clock -------------------------------------------------------------------------------
    def add_api_key(
        self,
        key: str,
        *,
        forbidden: bool = False,
        can_run_reports: bool = True,
        hidden_fields: tuple[str, ...] | frozenset[str] = (),
    ) -> ApiKey:
        api_key = ApiKey(key, forbidden, can_run_reports, frozenset(hidden_fields))
        with self.lock:
            self.api_keys[key] = api_key
        return api_key

    def now(self) -> datetime:
        return self.clock.now().astimezone(UTC).replace(microsecond=0)

    def advance(self, seconds: float) -> None:
        """Move the clock forward (a ``ManualClock`` moves only so)."""
        self.clock.advance(seconds)

    # -- changes (each one moves lastChanged to now) --------------------------------------------------
    def hire(self, **fields: str | None) -> str:
        """Add an employee (Active, Full-Time, hired today unless told otherwise); returns the new, never reused,
        id."""
        _check_fields(fields)
        with self.lock:
            now = self.now()
            employee_id = str(next(self._ids))
            values: dict[str, str | None] = dict.fromkeys(sorted(EDITABLE_FIELDS))
            values.update(status="Active", employmentHistoryStatus="Full-Time", employeeNumber=employee_id)
            values.update(hireDate=now.date().isoformat())
            values.update(fields)
            self._records[employee_id] = EmployeeRecord(employee_id, values, created=now, last_changed=now)
        self._notify(employee_id, "employee.created", tuple(sorted(fields)))
        return employee_id

    def update(self, employee_id: str, **fields: str | None) -> None:
        _check_fields(fields)
        with self.lock:
            record = self._live(employee_id)
            record.fields.update(fields)
            record.last_changed = self.now()
        self._notify(employee_id, "employee.updated", tuple(sorted(fields)))

    def terminate(self, employee_id: str, termination_date: date | str | None = None) -> None:
        """Status Inactive, employment status Terminated, with a terminationDate (today by default); shows in the
        change list as Updated."""
        when = termination_date or self.now().date()
        self.update(employee_id, status="Inactive", employmentHistoryStatus="Terminated", terminationDate=str(when))

    def rehire(self, employee_id: str, hire_date: date | str | None = None, employment: str = "Full-Time") -> None:
        """Active again with employment status ``employment``: terminationDate cleared, hireDate set (today by
        default)."""
        when = hire_date or self.now().date()
        self.update(
            employee_id, status="Active", employmentHistoryStatus=employment, terminationDate=None, hireDate=str(when)
        )

    def delete(self, employee_id: str) -> None:
        """Delete the record: it stays in the change list as Deleted and is gone from everything else."""
        with self.lock:
            record = self._live(employee_id)
            record.deleted = True
            record.last_changed = self.now()
        self._notify(employee_id, "employee.deleted")

    def _notify(self, employee_id: str, event_type: str, changed: tuple[str, ...] = ()) -> None:
        """Posts the change to the registered webhook, after the change is visible to the API."""
        if self.webhook is not None:
            self.webhook.send(employee_id, event_type, changed)

    def seed(self, n: int, hire_before: date | None = None) -> list[str]:
        """Hire ``n`` generated employees (see ``employees.generate_employees``); returns their ids."""
        people = generate_employees(n, seed=self._seed, hire_before=hire_before or self.now().date())
        self._seed += 1
        return [self.hire(**person) for person in people]

    # -- reading state ---------------------------------------------------------------------------------
    def employees(self, *, include_deleted: bool = False) -> list[dict[str, str | None]]:
        """Every employee's fields plus ``id`` and ``lastChanged``, by id."""
        with self.lock:
            return [r.snapshot() for r in self.records() if include_deleted or not r.deleted]

    def employee(self, employee_id: str) -> dict[str, str | None] | None:
        with self.lock:
            record = self._records.get(employee_id)
            return record.snapshot() if record and not record.deleted else None

    def record(self, employee_id: str) -> EmployeeRecord | None:
        """The live (not deleted) record for ``employee_id``, if any."""
        with self.lock:
            found = self._records.get(employee_id)
            return found if found is not None and not found.deleted else None

    def records(self) -> list[EmployeeRecord]:
        """All records, deleted ones included, ordered by id (callers hold ``lock`` for a consistent view)."""
        with self.lock:
            return sorted(self._records.values(), key=lambda r: int(r.id))

    def _live(self, employee_id: str) -> EmployeeRecord:
        record = self._records.get(str(employee_id))
        if record is None or record.deleted:
            raise KeyError(f"no employee {employee_id}")
        return record

    # -- HTTP ------------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        response = handle_request(self, request)
        response.headers.setdefault("x-request-id", uuid.uuid4().hex)
        response.headers["Date"] = format_datetime(self.now(), usegmt=True)  # BambooHR's clock, not the machine's
        return response


def _check_fields(fields: dict[str, str | None]) -> None:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"unknown or read-only employee fields: {sorted(unknown)}")


@dataclass
class RunningBambooHR:
    """A started emulator: put ``api_url`` in BAMBOOHR_API_URL and ``api_key`` in BAMBOOHR_API_KEY."""

    emulator: BambooHREmulator
    server: EmulatorServer
    faults: Faults = field(init=False)

    def __post_init__(self) -> None:
        self.faults = self.server.faults

    @property
    def api_url(self) -> str:
        return f"{self.server.url}/api/gateway.php/{self.emulator.company_domain}"

    @property
    def api_key(self) -> str:
        return self.emulator.default_api_key


@contextmanager
def running_bamboohr(
    employees: int = 0,
    faults: Faults | None = None,
    *,
    clock: Clock | None = None,
    company_domain: str = DEFAULT_COMPANY_DOMAIN,
    api_key: str = DEFAULT_API_KEY,
    seed: int = 0,
) -> Iterator[RunningBambooHR]:
    """Serve a fresh emulator seeded with ``employees`` generated employees until the block ends."""
    emulator = BambooHREmulator(company_domain, api_key, clock, seed)
    emulator.seed(employees)
    with EmulatorServer(emulator, faults) as server:
        yield RunningBambooHR(emulator, server)
