"""The per-record client the batch task replaces, as the original deployment synced an employee.

For each entry of the change list (fetched once): one ``GET /v1/employees/{id}``, one
``core_user_get_users_by_field`` lookup by idnumber and one write (``core_user_create_users`` for a new
account, ``core_user_update_users`` with every mapped field for an existing one). Records the mapping
refuses and inactive employees without an account are fetched and looked up but not written.
It shares the task's transport (``make_session``), mapping and Moodle encoding, so the comparison is
between call patterns, not between HTTP stacks.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from bamboohr_moodle_sync.http import make_session
from bamboohr_moodle_sync.mapping import load_mapping
from bamboohr_moodle_sync.models import RecordFailure
from bamboohr_moodle_sync.moodle import MoodleClient
from bamboohr_moodle_sync.plan import create_payload
from bench.services import Emulators

INITIAL_SINCE = "1970-01-01T00:00:00Z"


@dataclass
class ReferenceRun:
    employees: int  # entries of the window
    synced: int  # entries processed (a prefix of the window when limited)
    latency_ms: float
    wall_s: float = 0.0
    bamboohr_requests: int = 0
    moodle_requests: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def extrapolated_wall_s(self) -> float:
        """Wall time for the whole window, linear in the entries processed."""
        return self.wall_s * self.employees / self.synced if self.synced else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["extrapolated_wall_s"] = round(self.extrapolated_wall_s, 3)
        data["per_employee"] = round((self.bamboohr_requests + self.moodle_requests) / max(self.synced, 1), 4)
        data["extrapolated"] = self.synced < self.employees
        return data


def sync_per_record(services: Emulators, latency_ms: float, limit: int | None = None) -> ReferenceRun:
    """Sync the window since ``INITIAL_SINCE`` one employee at a time (its first ``limit`` entries)."""
    mapping = load_mapping(None)
    session = make_session()
    auth = (services.bamboohr.api_key, "x")
    root = services.bamboohr.api_url
    moodle = MoodleClient(services.moodle.url, services.moodle.token)
    bamboohr_before, moodle_before = services.requests()
    started = time.perf_counter()

    def bamboohr_get(path: str, **params: str) -> Any:
        response = session.get(
            root + path, params=params, auth=auth, headers={"Accept": "application/json"}, timeout=30
        )
        response.raise_for_status()
        return response.json()

    changed = bamboohr_get("/v1/employees/changed", since=INITIAL_SINCE).get("employees") or {}
    ids = sorted(changed, key=int)
    todo = ids if limit is None else ids[:limit]
    run = ReferenceRun(len(ids), len(todo), latency_ms)
    fields = ",".join(mapping.source_fields)
    for employee_id in todo:
        employee = bamboohr_get(f"/v1/employees/{employee_id}", fields=fields)
        found = moodle.find_users("idnumber", [employee_id])
        desired = mapping.desired_user({str(k): (None if v is None else str(v)) for k, v in employee.items()})
        if isinstance(desired, RecordFailure):
            outcome = "refused"
        elif found:
            failures = moodle.update_users(
                [{"id": found[0].id, **desired.fields, "suspended": int(not desired.active)}]
            )
            outcome = "failed" if failures else "updated"
        elif desired.active:
            _, failures = moodle.create_users([create_payload(desired, "manual")])
            outcome = "failed" if failures else "created"
        else:
            outcome = "skipped"
        run.outcomes[outcome] = run.outcomes.get(outcome, 0) + 1
    run.wall_s = time.perf_counter() - started
    bamboohr_after, moodle_after = services.requests()
    run.bamboohr_requests = bamboohr_after - bamboohr_before
    run.moodle_requests = moodle_after - moodle_before
    return run
