"""The emulators' admin side: the small JSON endpoints ``bamboohr-moodle-sync world`` calls to change the world.

They stand for what a person does in BambooHR's and Moodle's own web UIs (hire, edit, terminate, rehire an
employee; make a Moodle account by hand), so they are no part of either emulated API. They live under
``/_emulator/`` on each emulator's server, a path neither real service serves: ``with_admin`` routes that
prefix here and everything else to the emulated API untouched, so no API path can reach them.

BambooHR (``/_emulator/...`` on the BambooHR server):
    POST employees                   {"firstName", "lastName", ...} -> 201 {"id"}     hire
    GET  employees/{id}                                           -> 200 {fields}     look
    POST employees/{id}              {"field": "value" | null}    -> 200 {fields}     edit
    POST employees/{id}/terminate    {"date"?: "YYYY-MM-DD"}      -> 200 {fields}
    POST employees/{id}/rehire       {"date"?: "YYYY-MM-DD"}      -> 200 {fields}
    GET  clock  /  POST clock        {"advance": seconds}         -> 200 {"now"}
Moodle (``/_emulator/...`` on the Moodle server):
    POST users   {"username", "email", "firstname", "lastname", "idnumber"?, ...}  -> 201 {"id"}
    An account as the admin UI's "Add a new user" makes it: the username must be lowercase, unique and of
    PARAM_USERNAME's characters, the e-mail valid and (unless the site allows it) unused.
Errors are ``{"error": "..."}`` with 400 (bad input), 404 (no such employee or path) or 409 (taken).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from bamboohr_moodle_sync.local.bamboohr.api import format_timestamp
from bamboohr_moodle_sync.local.bamboohr.emulator import EDITABLE_FIELDS
from bamboohr_moodle_sync.local.moodle.params import clean_username, validate_email
from bamboohr_moodle_sync.local.server import Request, Response

if TYPE_CHECKING:
    from collections.abc import Callable

    from bamboohr_moodle_sync.local.bamboohr.emulator import BambooHREmulator
    from bamboohr_moodle_sync.local.moodle.emulator import MoodleEmulator
    from bamboohr_moodle_sync.local.server import Handler

PREFIX = "/_emulator/"
MOODLE_ACCOUNT_FIELDS = frozenset(
    {"username", "email", "firstname", "lastname", "idnumber", "department", "institution", "city", "auth"}
)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMPLOYEE = re.compile(r"employees/(?P<id>\d+)(?:/(?P<action>terminate|rehire))?")


class AdminError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def with_admin(api: Handler, admin: Handler) -> Handler:
    """``api`` for every path except ``/_emulator/...``, which goes to ``admin``."""

    def route(request: Request) -> Response:
        return admin(request) if request.path.startswith(PREFIX) else api(request)

    return route


def bamboohr_admin(emulator: BambooHREmulator) -> Handler:
    def handle(request: Request) -> Response:
        return _answer(lambda: _bamboohr(emulator, request.method, request.path[len(PREFIX) :], _body(request)))

    return handle


def moodle_admin(emulator: MoodleEmulator) -> Handler:
    def handle(request: Request) -> Response:
        return _answer(lambda: _moodle(emulator, request.method, request.path[len(PREFIX) :], _body(request)))

    return handle


def _bamboohr(emulator: BambooHREmulator, method: str, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    if route == "clock":
        if method == "POST":
            seconds = body.get("advance")
            if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
                raise AdminError(400, "advance must be a number of seconds, 0 or more")
            emulator.advance(seconds)
        return 200, {"now": format_timestamp(emulator.now())}
    if route == "employees" and method == "POST":
        fields = _employee_fields(body)
        if not (fields.get("firstName") and fields.get("lastName")):
            raise AdminError(400, "a hire needs firstName and lastName, as BambooHR's new-employee form does")
        return 201, {"id": emulator.hire(**fields)}
    match = _EMPLOYEE.fullmatch(route)
    if match is None:
        raise AdminError(404, f"no admin endpoint {method} {PREFIX}{route}")
    employee_id, action = match["id"], match["action"]
    if emulator.record(employee_id) is None:
        raise AdminError(404, f"no employee {employee_id} (never hired, or deleted)")
    if method == "POST" and action is None:
        emulator.update(employee_id, **_employee_fields(body))
    elif method == "POST":
        when = body.get("date")
        if when is not None and not (isinstance(when, str) and _DATE.fullmatch(when)):
            raise AdminError(400, "date must be YYYY-MM-DD")
        (emulator.terminate if action == "terminate" else emulator.rehire)(employee_id, when)
    elif method != "GET" or action is not None:
        raise AdminError(404, f"no admin endpoint {method} {PREFIX}{route}")
    return 200, emulator.employee(employee_id)


def _employee_fields(body: dict[str, Any]) -> dict[str, str | None]:
    unknown = sorted(set(body) - EDITABLE_FIELDS)
    if unknown:
        raise AdminError(400, f"unknown or read-only fields {unknown}; editable: {', '.join(sorted(EDITABLE_FIELDS))}")
    if not all(value is None or isinstance(value, str) for value in body.values()):
        raise AdminError(400, "field values must be strings (or null to empty a field)")
    return dict(body)


def _moodle(emulator: MoodleEmulator, method: str, route: str, body: dict[str, Any]) -> tuple[int, Any]:
    if (method, route) != ("POST", "users"):
        raise AdminError(404, f"no admin endpoint {method} {PREFIX}{route}")
    unknown = sorted(set(body) - MOODLE_ACCOUNT_FIELDS)
    if unknown:
        raise AdminError(400, f"unknown fields {unknown}; known: {', '.join(sorted(MOODLE_ACCOUNT_FIELDS))}")
    if not all(isinstance(value, str) for value in body.values()):
        raise AdminError(400, "field values must be strings")
    fields: dict[str, str] = dict(body)
    for name in ("username", "email", "firstname", "lastname"):
        if not fields.get(name, "").strip():
            raise AdminError(400, f"{name} is required")
    username, email = fields.pop("username"), fields.pop("email")
    if clean_username(username) != username:
        raise AdminError(400, f"username {username!r} must be lowercase letters, digits and -.@_ only")
    if not validate_email(email):
        raise AdminError(400, f"email {email!r} is not a valid address")
    if emulator.user_by_username(username) is not None:
        raise AdminError(409, f"username {username!r} is taken")
    if not emulator.allowaccountssameemail and any(
        u["email"].lower() == email.lower() for u in emulator.users(include_system=True)
    ):
        raise AdminError(409, f"email {email!r} is used by another account")
    user_id = emulator.add_user(username, fields.pop("firstname"), fields.pop("lastname"), email, **fields)
    return 201, {"id": user_id}


def _body(request: Request) -> dict[str, Any]:
    if not request.body:
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise AdminError(400, "the body must be a JSON object") from exc
    if not isinstance(body, dict):
        raise AdminError(400, "the body must be a JSON object")
    return body


def _answer(work: Callable[[], tuple[int, Any]]) -> Response:
    try:
        status, payload = work()
    except AdminError as exc:
        status, payload = exc.status, {"error": str(exc)}
    except (KeyError, ValueError) as exc:  # the emulator refused the change
        status, payload = 400, {"error": str(exc).strip("'\"")}
    return Response(status, json.dumps(payload).encode("utf-8"), {"Content-Type": "application/json"})
