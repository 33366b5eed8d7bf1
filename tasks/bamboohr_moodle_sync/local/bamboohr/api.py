"""The BambooHR emulator's HTTP side: routing, auth and the wire format of the four operations.

``handle_request(emulator, request)`` answers one request from the emulator's state; the rules it follows are
listed in the ``emulator`` module's docstring and cite /work/shared/reference/bamboohr.md and the OpenAPI spec.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import xml.etree.ElementTree as ET
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from bamboohr_moodle_sync.local.server import Request, Response

MAX_FIELDS = 400  # "The maximum number of fields per request is 400" (get-employee, request-custom-report)
DEFAULT_EMPLOYEE_FIELDS = ("firstName", "lastName")  # get-employee's documented default for `fields`
CHANGE_TYPES = {"inserted": "Inserted", "updated": "Updated", "deleted": "Deleted", "all": None}
# request-custom-report: `format` is case-insensitive; without it only these exact Accept values are honoured.
REPORT_FORMATS_BY_ACCEPT = {
    "application/json": "json",
    "text/xml": "xml",
    "text/csv": "csv",
    "application/pdf": "pdf",
    "application/vnd.ms-excel": "xls",
}
EMULATED_REPORT_FORMATS = ("json", "xml")  # csv, xls and pdf are real formats this emulator answers 501 for
DIRECTORY_FIELDS: tuple[tuple[str, str, str], ...] = (
    ("displayName", "text", "Display name"),
    ("firstName", "text", "First name"),
    ("lastName", "text", "Last name"),
    ("preferredName", "text", "Preferred name"),
    ("jobTitle", "list", "Job title"),
    ("workEmail", "email", "Work Email"),
    ("department", "list", "Department"),
    ("location", "list", "Location"),
    ("division", "list", "Division"),
    ("photoUploaded", "bool", "Employee photo"),
    ("canUploadPhoto", "bool", "Can upload photo"),
)
FIELD_TYPES: dict[str, tuple[str, str]] = {
    # field id -> (type, display name), as the custom report's "fields" metadata describes them
    "id": ("int", "EEID"),
    "firstName": ("text", "First Name"),
    "lastName": ("text", "Last Name"),
    "preferredName": ("text", "Preferred Name"),
    "workEmail": ("email", "Work Email"),
    "homeEmail": ("email", "Home Email"),
    "employeeNumber": ("text", "Employee #"),
    "status": ("status", "Status"),
    "employmentHistoryStatus": ("list", "Employment Status"),  # customisable; "Terminated" once terminated
    "department": ("list", "Department"),
    "division": ("list", "Division"),
    "jobTitle": ("list", "Job Title"),
    "location": ("list", "Location"),
    "hireDate": ("date", "Hire Date"),
    "terminationDate": ("date", "Termination Date"),
    "lastChanged": ("timestamp", "Last Changed"),
}
# The documented `since` forms: ...Z, +hh:mm, -hh:mm, +hhmm, -hhmm. Fractional seconds and date-only values
# are not documented, so they are refused (the strict reading; a client must format the watermark exactly).
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?P<offset>Z|[+-]\d{2}:?\d{2})")
_EMPLOYEE_PATH = re.compile(r"employees/(?P<id>[^/]+)/?")


def parse_timestamp(text: str) -> datetime | None:
    """An aware datetime for one of the documented ISO-8601 forms, else None."""
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        return None
    offset = match["offset"]
    normal = "+00:00" if offset == "Z" else offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
    try:
        return datetime.fromisoformat(text[: match.start("offset")] + normal)
    except ValueError:
        return None


def format_timestamp(moment: datetime) -> str:
    """BambooHR's change-list timestamp: ``YYYY-MM-DDTHH:MM:SS+00:00``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def error(status: int, message: str) -> Response:
    """A plain error answer; BambooHR puts the reason in ``X-BambooHR-Error-Message``."""
    response = Response.text(status, message)
    response.headers["X-BambooHR-Error-Message"] = message
    return response


EMPTY_DATE = "0000-00-00"  # BambooHR's empty date
DATE_FIELDS = frozenset(name for name, (kind, _) in FIELD_TYPES.items() if kind == "date")


@dataclass(frozen=True)
class ApiKey:
    """What one API key may do: ``forbidden`` keys get 403 everywhere; ``hidden_fields`` are never answered."""

    key: str
    forbidden: bool = False
    can_run_reports: bool = True
    hidden_fields: frozenset[str] = frozenset()


@dataclass
class EmployeeRecord:
    id: str
    fields: dict[str, str | None]
    created: datetime
    last_changed: datetime
    deleted: bool = False

    def value(self, name: str) -> str | None:
        """The answered value of ``name``: empty dates are ``0000-00-00``, other empty values None."""
        if name == "id":
            return self.id
        if name == "lastChanged":
            return format_timestamp(self.last_changed)
        found = self.fields.get(name)
        return EMPTY_DATE if found is None and name in DATE_FIELDS else found

    def snapshot(self) -> dict[str, str | None]:
        return {"id": self.id, **self.fields, "lastChanged": format_timestamp(self.last_changed)}


class Company(Protocol):
    """The company state the API answers from (``emulator.BambooHREmulator``); this module never imports it."""

    company_domain: str
    directory_shared: bool
    api_keys: dict[str, ApiKey]

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def now(self) -> datetime: ...

    def record(self, employee_id: str) -> EmployeeRecord | None: ...

    def records(self) -> list[EmployeeRecord]: ...


def handle_request(emulator: Company, request: Request) -> Response:
    prefix = f"/api/gateway.php/{emulator.company_domain}/v1/"
    if not request.path.startswith(prefix):
        return error(404, "Unknown company or path")
    key = _authenticate(emulator, request)
    if isinstance(key, Response):
        return key
    route = request.path[len(prefix) :]
    with emulator.lock:
        if route == "employees/changed":
            return _only(request, "GET") or _changed(emulator, request)
        if route == "reports/custom":
            return _only(request, "POST") or _custom_report(emulator, request, key)
        if route in ("employees/directory", "employees/directory/"):
            return _only(request, "GET") or _directory(emulator, request, key)
        if match := _EMPLOYEE_PATH.fullmatch(route):
            return _only(request, "GET") or _get_employee(emulator, request, key, match["id"])
    return error(404, "Not found")


def _only(request: Request, method: str) -> Response | None:
    if request.method == method:
        return None
    response = error(405, "Method not allowed")
    response.headers["Allow"] = method
    return response


def _authenticate(emulator: Company, request: Request) -> ApiKey | Response:
    """HTTP Basic with the API key as user name and any password."""
    scheme, _, encoded = (request.headers.get("Authorization") or "").partition(" ")
    try:
        user = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")[0]
    except (binascii.Error, UnicodeDecodeError):
        user = ""
    key = emulator.api_keys.get(user) if scheme.lower() == "basic" else None
    if key is None:
        response = error(401, "Missing or invalid API key")
        response.headers["WWW-Authenticate"] = 'Basic realm="BambooHR API"'
        return response
    if key.forbidden:
        return error(403, "API access is not allowed for this key")
    return key


def _wants_json(request: Request) -> bool:
    """JSON only when asked for; the real API answers XML to any other Accept header."""
    accepted = (part.split(";")[0].strip().lower() for part in (request.headers.get("Accept") or "").split(","))
    return "application/json" in accepted


def _json(payload: object) -> Response:
    return Response(200, json.dumps(payload).encode("utf-8"), {"Content-Type": "application/json"})


def _xml(root: ET.Element, content_type: str = "application/xml") -> Response:
    """XML as the spec labels it: ``application/xml``, except the custom report's ``text/xml``."""
    return Response(200, ET.tostring(root, encoding="utf-8", xml_declaration=True), {"Content-Type": content_type})


def _field_elements(parent: ET.Element, values: dict[str, Any]) -> None:
    for name, value in values.items():
        if name != "id":
            ET.SubElement(parent, "field", id=name).text = None if value is None else str(value)


def _visible(names: list[str], key: ApiKey) -> list[str]:
    """Known, visible field names in request order without repeats; the rest is left out silently."""
    return list(dict.fromkeys(n for n in names if n in FIELD_TYPES and n not in key.hidden_fields))


def _changed(emulator: Company, request: Request) -> Response:
    since_text = request.query_value("since")
    since = parse_timestamp(since_text) if since_text else None
    if since is None:
        return error(400, "Invalid or missing 'since': use ISO 8601 such as 2026-01-01T00:00:00Z")
    change_type = request.query_value("type")
    if (change_type or "all") not in CHANGE_TYPES or change_type == "":
        return error(400, "Invalid 'type': use inserted, updated, deleted or all")
    wanted = CHANGE_TYPES[change_type or "all"]
    entries: dict[str, dict[str, str]] = {}
    for record in emulator.records():
        if record.last_changed < since:  # `since` is inclusive: the harsher reading of an undocumented boundary
            continue
        action = "Deleted" if record.deleted else "Inserted" if record.created >= since else "Updated"
        if wanted in (None, action):
            entries[record.id] = {"id": record.id, "action": action, "lastChanged": record.value("lastChanged") or ""}
    # `latest` is the greatest lastChanged returned. With nothing returned the spec still requires a date-time;
    # this emulator answers `since` itself in UTC, which is safe to store as the next watermark.
    latest = max((e["lastChanged"] for e in entries.values()), default=format_timestamp(since))
    if _wants_json(request):
        return _json({"latest": latest, "employees": entries})
    root = ET.Element("employees", latest=latest)
    for entry in entries.values():
        ET.SubElement(root, "employee", entry)
    return _xml(root)


def _get_employee(emulator: Company, request: Request, key: ApiKey, employee_id: str) -> Response:
    requested = request.query_value("fields")
    names = [n.strip() for n in requested.split(",") if n.strip()] if requested else list(DEFAULT_EMPLOYEE_FIELDS)
    if len(names) > MAX_FIELDS:
        return error(400, f"Too many fields requested (maximum {MAX_FIELDS})")
    record = emulator.record(employee_id)
    if record is None:
        return error(404, "Employee not found")
    values = {"id": record.id, **{n: record.value(n) for n in _visible(names, key)}}
    if _wants_json(request):
        return _json(values)
    root = ET.Element("employee", id=record.id)
    _field_elements(root, values)
    return _xml(root)


def _directory(emulator: Company, request: Request, key: ApiKey) -> Response:
    if not emulator.directory_shared:
        return error(403, "The directory is not shared")
    today = emulator.now().date().isoformat()
    include_future = (request.query_value("onlyCurrent") or "true").lower() == "false"
    columns = [c for c in DIRECTORY_FIELDS if c[0] not in key.hidden_fields]
    people: list[dict[str, Any]] = []
    for record in emulator.records():
        future_hire = record.fields["status"] == "Inactive" and (record.fields["hireDate"] or "") > today
        if record.deleted or not (record.fields["status"] == "Active" or (include_future and future_hire)):
            continue
        display_name = f"{record.fields['preferredName'] or record.fields['firstName']} {record.fields['lastName']}"
        extra: dict[str, Any] = {"displayName": display_name, "photoUploaded": False, "canUploadPhoto": 0}
        people.append({"id": record.id, **{c[0]: extra.get(c[0], record.value(c[0])) for c in columns}})
    if not people:
        return error(404, "The directory is empty")
    if _wants_json(request):
        return _json({"fields": [{"id": i, "type": t, "name": n} for i, t, n in columns], "employees": people})
    root = ET.Element("directory")
    fieldset = ET.SubElement(root, "fieldset")
    for field_id, _, name in columns:
        ET.SubElement(fieldset, "field", id=field_id).text = name
    employees = ET.SubElement(root, "employees")
    for person in people:
        _field_elements(ET.SubElement(employees, "employee", id=person["id"]), person)
    return _xml(root)


def _custom_report(emulator: Company, request: Request, key: ApiKey) -> Response:
    if not key.can_run_reports:
        return error(403, "You do not have access to custom reports")
    requested_format = request.query_value("format")
    if requested_format is None:
        output = REPORT_FORMATS_BY_ACCEPT.get(request.headers.get("Accept") or "")
    else:
        output = requested_format.lower() if requested_format.lower() in REPORT_FORMATS_BY_ACCEPT.values() else None
    if output is None:
        return error(404, "Report format not found")
    if output not in EMULATED_REPORT_FORMATS:
        return error(501, f"The emulator does not produce {output} reports")
    definition = _report_definition(request)
    if isinstance(definition, Response):
        return definition
    title, names, employee_ids, changed_since = definition
    if len(names) > MAX_FIELDS:
        return error(400, f"Too many fields requested (maximum {MAX_FIELDS})")
    columns = _visible(names, key)
    rows: list[dict[str, str | None]] = []
    for record in emulator.records():  # Active and Inactive alike; deleted records are gone
        if record.deleted or (employee_ids is not None and record.id not in employee_ids):
            continue
        if changed_since is not None and record.last_changed < changed_since:  # "on or after" the value
            continue
        rows.append({"id": record.id, **{n: record.value(n) for n in columns}})
    fields = [{"id": n, "type": FIELD_TYPES[n][0], "name": FIELD_TYPES[n][1]} for n in columns]
    if output == "json":
        return _json({"title": title, "fields": fields, "employees": rows})
    root = ET.Element("report")
    ET.SubElement(root, "title").text = title
    field_list = ET.SubElement(root, "fields")
    for f in fields:
        ET.SubElement(field_list, "field", id=f["id"], type=f["type"]).text = f["name"]
    employees = ET.SubElement(root, "employees")
    for row in rows:
        _field_elements(ET.SubElement(employees, "employee", id=row["id"] or ""), row)
    return _xml(root, "text/xml")


ReportDefinition = tuple[str, list[str], "set[str] | None", "datetime | None"]


def _report_definition(request: Request) -> ReportDefinition | Response:
    """Title, field names, employee-id filter and lastChanged filter from a JSON or XML body.

    Only ``Content-Type: application/json`` exactly is read as JSON; anything else is parsed as XML, so a JSON
    body sent as ``application/json; charset=UTF-8`` fails with 400 "Malformed XML", as the real API does.
    """
    if request.headers.get("Content-Type") == "application/json":
        try:
            body = json.loads(request.body)
        except (ValueError, UnicodeDecodeError):
            return error(400, "Malformed JSON")
    else:
        body = _xml_report_body(request.body)
        if body is None:
            return error(400, "Malformed XML")
    if not isinstance(body, dict) or not isinstance(body.get("fields"), list):
        return error(400, "The report must list its fields")
    names, filters = body["fields"], body.get("filters") or {}
    if not all(isinstance(n, str) for n in names) or not isinstance(filters, dict):
        return error(400, "Invalid report definition")
    employee_ids: set[str] | None = None
    if "employeeIds" in filters:
        raw_ids = filters["employeeIds"]
        valid = isinstance(raw_ids, list) and all(
            (isinstance(i, int) and not isinstance(i, bool)) or (isinstance(i, str) and i.strip().isdigit())
            for i in raw_ids
        )
        if not valid:
            return error(400, "Invalid employeeIds filter")
        employee_ids = {str(int(i)) for i in raw_ids}
    changed_since = None
    if "lastChanged" in filters:
        last_changed = filters["lastChanged"]
        value = last_changed.get("value") if isinstance(last_changed, dict) else None
        changed_since = parse_timestamp(value) if isinstance(value, str) else None
        # includeNull only matters for employees without a lastChanged; every emulated employee has one.
        if changed_since is None or last_changed.get("includeNull", "yes") not in ("yes", "no"):
            return error(400, "Invalid lastChanged filter")
    return str(body.get("title") or ""), names, employee_ids, changed_since


def _xml_report_body(raw: bytes) -> dict[str, Any] | None:
    """The XML ``<report>`` definition as the JSON shape, or None when it is not one."""
    try:
        root = ET.fromstring(raw)  # noqa: S314 - loopback test emulator, inputs come from our own tests
    except ET.ParseError:
        return None
    if root.tag != "report":
        return None
    body: dict[str, Any] = {"title": root.findtext("title") or "", "fields": []}
    body["fields"] = [f.get("id", "") for f in root.iterfind("fields/field")]
    filters: dict[str, Any] = {}
    last_changed = root.find("filters/lastChanged")
    if last_changed is not None:
        filters["lastChanged"] = {"value": (last_changed.text or "").strip()}
        filters["lastChanged"]["includeNull"] = last_changed.get("includeNull", "yes")
    if root.find("filters/employeeIds") is not None:
        filters["employeeIds"] = [(e.text or "").strip() for e in root.iterfind("filters/employeeIds/employeeId")]
    body["filters"] = filters
    return body
