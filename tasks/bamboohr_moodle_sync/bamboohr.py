"""BambooHR client: who changed since when, and their field values.

Domain operations only: ``changed_since`` (the change list) and ``employees`` (field values for a
batch, one custom report, with a per-employee fallback). Retries of throttling (503, 429, ...) and
dropped connections happen in ONE layer, the session's transport (``bamboohr_moodle_sync.http``);
this client never retries on its own.

Errors it raises (from ``errors``)::

    SyncError
    ├── ServiceUnreachable         connection refused or dropped, timeout (after the transport's retries)
    ├── ServiceRejected            any other 4xx/5xx, or an answer that is not the JSON expected;
    │   │                          carries status, x-request-id and X-BambooHR-Error-Message
    │   └── AuthenticationFailed   401, or 403 outside the report fallback: names the secret to fix
    └── FieldNotVisible            a requested field is missing for every employee returned

The API key travels only in the Basic ``Authorization`` header (key as user name, ``x`` as
password); it never appears in a URL, a log line or an exception message.

Timestamps: every ``lastChanged`` and ``latest`` is normalised to UTC ``YYYY-MM-DDTHH:MM:SSZ``
(seconds, truncated), whatever offset BambooHR answers with, so that the strings sort in time order
and compare with each other. A timestamp without an offset is read as UTC.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import requests

from .errors import AuthenticationFailed, FieldNotVisible, ServiceRejected, ServiceUnreachable
from .http import DEFAULT_TIMEOUT, Timeout, make_session, request_id
from .models import Change, ChangeAction, ChangeList, utc_timestamp

if TYPE_CHECKING:
    from collections.abc import Sequence

log = logging.getLogger(__name__)

SERVICE = "BambooHR"
REPORT_TITLE = "bamboohr-moodle-sync"
ALWAYS_FIELDS = ("id", "status")
"""Fields every ``employees`` call requests, whatever the caller asks for."""

REPORT_REFUSED_STATUSES = frozenset({403, 404, 405, 410, 501})
"""Answers to the custom report that switch ``employees`` to one GET per employee.

403: the key's user may not run custom reports (the per-employee GET may still be allowed; if it is
not, its own 403 raises ``AuthenticationFailed``). 404/405/410/501: the deprecated report endpoint is
not served. Not 400 (our request is wrong: a bug to see, not to hide), not 401 (the key is wrong
everywhere) and not 5xx (a service failure, already retried by the transport).
"""

EMPTY_DATE = "0000-00-00"
"""BambooHR's empty date; ``employees`` answers it as None."""

_ACTIONS: dict[str, ChangeAction] = {"inserted": "Inserted", "updated": "Updated", "deleted": "Deleted"}


def _server_moment(response: requests.Response) -> datetime | None:
    """The answer's ``Date`` header (RFC 9110: the origin server's clock), aware; None when absent or unreadable."""
    try:
        moment = parsedate_to_datetime(response.headers.get("Date") or "")
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo is not None else None


def _server_time(response: requests.Response) -> str | None:
    """``_server_moment`` as a UTC timestamp string."""
    moment = _server_moment(response)
    return utc_timestamp(moment.isoformat()) if moment is not None else None


def normalise_timestamp(value: str) -> str:
    """``2026-01-01T01:00:00+01:00`` -> ``2026-01-01T00:00:00Z``; a value without an offset is UTC."""
    try:
        return utc_timestamp(value, naive_is_utc=True)
    except ValueError as exc:
        raise ServiceRejected(SERVICE, f"unreadable timestamp {value!r} in the change list") from exc


class BambooHRClient:
    """The BambooHR API as this project uses it.

    ``api_url`` is the company root, ``https://api.bamboohr.com/api/gateway.php/{domain}``; paths
    ``/v1/...`` are appended. ``session`` defaults to ``http.make_session()`` (retries and timeouts);
    ``timeout`` is passed on every call. ``credential_hint`` names the secret an operator fixes when
    the key is refused.
    """

    def __init__(
        self,
        api_url: str,
        api_key: str,
        session: requests.Session | None = None,
        *,
        credential_hint: str = "the BambooHR API key (secret BAMBOOHR_SECRET_ID)",
        timeout: Timeout = DEFAULT_TIMEOUT,
    ) -> None:
        self._root = api_url.rstrip("/")
        self._host = urlsplit(self._root).netloc
        self._auth = (api_key, "x")
        self._session = session or make_session(service=SERVICE)
        self._hint = credential_hint
        self._timeout = timeout
        self.server_time: datetime | None = None
        """BambooHR's clock at its latest answer (its ``Date`` header); None before one."""

    def __repr__(self) -> str:
        return f"BambooHRClient({self._root!r})"

    # -- domain operations -------------------------------------------------------------------

    def changed_since(self, since: str) -> ChangeList:
        """Employees changed since ``since`` (ISO-8601), sorted by ``(last_changed, employee_id)``.

        ``latest`` is the greatest normalised ``lastChanged`` (or BambooHR's ``latest`` if greater);
        None when no employee changed. ``read_at`` is the answer's ``Date`` header (see ``ChangeList``).
        """
        response = self._call("GET", "/v1/employees/changed", params={"since": since})
        answer = self._json(response, "change list")
        employees = answer.get("employees") or {}
        if not isinstance(employees, dict):
            raise ServiceRejected(SERVICE, "the change list's 'employees' is not an object")
        changes = sorted(self._change(key, entry) for key, entry in employees.items())
        if not changes:
            return ChangeList(latest=None, changes=[])
        latest = changes[-1].last_changed
        if isinstance(answer.get("latest"), str) and answer["latest"]:
            latest = max(latest, normalise_timestamp(answer["latest"]))
        return ChangeList(latest=latest, changes=changes, read_at=_server_time(response))

    def employees(self, ids: Sequence[str], fields: Sequence[str]) -> dict[str, dict[str, str | None]]:
        """Field values by employee id (strings) for ``ids``; ``id`` and ``status`` are always requested.

        One ``POST /v1/reports/custom?format=JSON``; when the report is refused
        (``REPORT_REFUSED_STATUSES``), one ``GET /v1/employees/{id}`` per employee instead. Employees
        BambooHR does not know (deleted, or 404 in the fallback) are absent from the result. Values
        are strings or None; ``0000-00-00`` is answered as None.

        Raises ``FieldNotVisible`` when a requested field is missing from every employee returned:
        BambooHR silently drops fields the API key's user may not see.
        """
        if not ids:
            return {}
        wanted = list(dict.fromkeys([*ALWAYS_FIELDS, *fields]))
        body = {"title": REPORT_TITLE, "fields": wanted, "filters": {"employeeIds": [_as_id(i) for i in ids]}}
        try:
            response = self._call(
                "POST",
                "/v1/reports/custom",
                params={"format": "JSON"},
                data=_json_bytes(body),
                headers={"Content-Type": "application/json"},
                fallback_on=REPORT_REFUSED_STATUSES,
            )
        except _ReportRefused as refused:
            log.warning(
                "BambooHR refused the custom report (HTTP %s); reading %d employees one by one",
                refused.status,
                len(ids),
            )
            rows = self._one_by_one(ids, wanted)
        else:
            answer = self._json(response, "custom report")
            raw_rows = answer.get("employees") or []
            if not isinstance(raw_rows, list):
                raise ServiceRejected(SERVICE, "the custom report's 'employees' is not a list")
            rows = [row for row in raw_rows if isinstance(row, dict)]
        result = {str(row["id"]): _values(row) for row in rows if row.get("id") not in (None, "")}
        _check_visible(wanted, result)
        return result

    # -- helpers --------------------------------------------------------------------------------

    def _one_by_one(self, ids: Sequence[str], wanted: list[str]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for employee_id in ids:
            try:
                response = self._call(
                    "GET", f"/v1/employees/{employee_id}", params={"fields": ",".join(wanted)}, fallback_on={404}
                )
            except _ReportRefused:
                continue  # 404: no such employee
            row = self._json(response, f"employee {employee_id}")
            row.setdefault("id", str(employee_id))
            rows.append(row)
        return rows

    @staticmethod
    def _change(key: str, entry: object) -> Change:
        if not isinstance(entry, dict) or not isinstance(entry.get("lastChanged"), str):
            raise ServiceRejected(SERVICE, f"change list entry {key!r} has no lastChanged")
        action = _ACTIONS.get(str(entry.get("action", "")).lower())
        if action is None:
            log.warning("unknown BambooHR action %r for employee %s; treating it as Updated", entry.get("action"), key)
            action = "Updated"
        return Change(
            last_changed=normalise_timestamp(entry["lastChanged"]),
            employee_id=str(entry.get("id") or key),
            action=action,
        )

    def _call(
        self,
        method: str,
        path: str,
        *,
        fallback_on: frozenset[int] | set[int] = frozenset(),
        **kwargs: Any,
    ) -> requests.Response:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        try:
            response = self._session.request(
                method, self._root + path, auth=self._auth, headers=headers, timeout=self._timeout, **kwargs
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise ServiceUnreachable(SERVICE, f"{method} {path}: {type(exc).__name__}", host=self._host) from exc
        except requests.RequestException as exc:  # e.g. RetryError: no usable answer after the retries
            raise ServiceRejected(SERVICE, f"{method} {path}: {type(exc).__name__}") from exc
        log.debug("BambooHR %s %s -> HTTP %s", method, path, response.status_code)
        self.server_time = _server_moment(response) or self.server_time
        if response.ok:
            return response
        if response.status_code in fallback_on:
            raise _ReportRefused(response.status_code)
        detail = response.headers.get("X-BambooHR-Error-Message") or response.reason or "no reason given"
        detail = detail.replace(self._auth[0], "***") if self._auth[0] else detail  # never echo the key
        status, rid = response.status_code, request_id(response)
        if response.status_code == 401:
            raise AuthenticationFailed(
                SERVICE, f"the API key was refused ({detail}); fix {self._hint}", status=status, request_id=rid
            )
        if response.status_code == 403:
            raise AuthenticationFailed(
                SERVICE,
                f"permission denied or API access disabled on {method} {path} ({detail}); "
                f"check {self._hint} and its user's permissions",
                status=status,
                request_id=rid,
            )
        raise ServiceRejected(SERVICE, f"{method} {path}: {detail}", status=status, request_id=rid)

    @staticmethod
    def _json(response: requests.Response, what: str) -> dict[str, Any]:
        try:
            answer = response.json()
        except ValueError as exc:
            raise ServiceRejected(
                SERVICE,
                f"the {what} answer is not JSON ({response.headers.get('Content-Type', 'no content type')})",
                status=response.status_code,
                request_id=request_id(response),
            ) from exc
        if not isinstance(answer, dict):
            raise ServiceRejected(SERVICE, f"the {what} answer is not a JSON object", status=response.status_code)
        return cast("dict[str, Any]", answer)


class _ReportRefused(Exception):
    """Internal: an expected refusal (``fallback_on``) the caller handles."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _as_id(value: str) -> int | str:
    return int(value) if str(value).isdigit() else value


def _json_bytes(body: object) -> bytes:
    return json.dumps(body).encode("utf-8")


def _values(row: dict[str, Any]) -> dict[str, str | None]:
    values: dict[str, str | None] = {}
    for name, value in row.items():
        if value is None or value == EMPTY_DATE:
            values[name] = None
        elif isinstance(value, str):
            values[name] = value
        else:
            values[name] = str(value)
    values["id"] = str(row["id"])
    return values


def _check_visible(wanted: Sequence[str], result: dict[str, dict[str, str | None]]) -> None:
    if not result:
        return  # nobody returned: nothing to judge visibility by
    hidden = [name for name in wanted if name != "id" and all(name not in row for row in result.values())]
    if hidden:
        raise FieldNotVisible(
            f"BambooHR returned no value of {', '.join(hidden)} for any of {len(result)} employees: "
            "the API key's user needs permission to see these fields (or the field names are wrong)"
        )
