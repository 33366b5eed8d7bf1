"""A local Moodle 4.5 that answers the Web Services REST protocol as the real one does.

``MoodleEmulator`` is the handler (``Request -> Response``) plus the data API tests use to seed and read accounts;
``running_moodle`` serves it on loopback. The user functions live in ``functions``, the cohort ones in
``cohorts``, custom profile fields in ``profile``; PHP decoding and parameter validation in ``params``. Every
answer is HTTP 200, as Moodle's are: success in JSON (``moodlewsrestformat=json``) or XML, failures as
``{"exception", "errorcode", "message"}`` with ``debuginfo`` only when ``debug`` is on.

Mail: each user created with ``createpassword=1`` is "mailed" inside ``core_user_create_users``, as Moodle's
``setnew_password_and_mail`` does within the call's transaction: the username goes to ``outbox`` and, with the
``Faults.mail_delay_s`` fault, costs that many seconds before the call commits. Other calls are served
meanwhile and see none of the call's users until it commits (PostgreSQL's read committed); a client that stops
waiting does not stop the call.

Differences from a real Moodle that clients cannot rely on anyway: no sessions, no events; XML is built from
the answer's data (a key Moodle would send as ``<VALUE null="null"/>`` is left out).
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from bamboohr_moodle_sync.local.moodle import functions
from bamboohr_moodle_sync.local.moodle.errors import MoodleError, invalid
from bamboohr_moodle_sync.local.moodle.params import PARAMETERS, InvalidParameter, Site, php_decode, validate
from bamboohr_moodle_sync.local.moodle.profile import DEFAULT_FIELDS, SITE_TIMEZONE, FieldDefinition
from bamboohr_moodle_sync.local.moodle.state import State
from bamboohr_moodle_sync.local.server import EmulatorServer, Faults, Request, Response

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

ENDPOINT = "/webservice/rest/server.php"
DEFAULT_TOKEN = "0123456789abcdef0123456789abcdef"  # noqa: S105 - a local emulator's token


@dataclass
class Token:
    """A web-service token: ``functions`` limits it to those functions (None: every emulated one)."""

    value: str
    functions: frozenset[str] | None = None
    expired: bool = False
    owner_suspended: bool = False


class MoodleEmulator:
    """An in-memory Moodle site behind ``/webservice/rest/server.php``. Thread-safe; one call at a time."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        debug: bool = False,
        allowaccountssameemail: bool = False,
        max_input_vars: int = 1000,
        password_policy: bool = True,
        profile_fields: Mapping[str, FieldDefinition] | None = None,
        timezone: str = SITE_TIMEZONE,
        site_url: str = "http://127.0.0.1",
    ):
        self.debug = debug
        self.max_input_vars = max_input_vars
        self.site_url = site_url
        self._lock = threading.RLock()
        self._state = State(
            site=Site(),
            allowaccountssameemail=allowaccountssameemail,
            password_policy=password_policy,
            profile_fields=dict(DEFAULT_FIELDS if profile_fields is None else profile_fields),
            timezone=timezone,
        )
        self._calls: Counter[str] = Counter()
        self.faults = Faults()
        """The server's faults (``running_moodle`` shares them); ``mail_delay_s`` is read here."""
        self.tokens: dict[str, Token] = {}
        self.token = token
        self.add_token(token)

    # --- settings -----------------------------------------------------------------------------------------
    @property
    def allowaccountssameemail(self) -> bool:
        return self._state.allowaccountssameemail

    @allowaccountssameemail.setter
    def allowaccountssameemail(self, value: bool) -> None:
        with self._lock:
            self._state.allowaccountssameemail = value

    @property
    def timezone(self) -> str:
        """The site's time zone: date-only profile fields are stored as midnight there."""
        return self._state.timezone

    @timezone.setter
    def timezone(self, value: str) -> None:
        with self._lock:
            self._state.timezone = value

    def add_token(
        self, value: str, functions: set[str] | None = None, *, expired: bool = False, owner_suspended: bool = False
    ) -> Token:
        """Register a token; ``functions`` limits it to those web-service functions."""
        token = Token(value, frozenset(functions) if functions is not None else None, expired, owner_suspended)
        with self._lock:
            self.tokens[value] = token
        return token

    # --- data API ----------------------------------------------------------------------------------------
    def add_user(
        self,
        username: str,
        firstname: str = "Seeded",
        lastname: str = "User",
        email: str | None = None,
        **fields: Any,
    ) -> int:
        """Seed an account as if made by hand (no validation); answers its id."""
        with self._lock:
            return self._state.insert_user(
                {"username": username, "firstname": firstname, "lastname": lastname, **fields}
                | {"email": email if email is not None else f"{username}@example.test"}
            )

    def edit_user(self, user_id: int, **changes: Any) -> None:
        """Change an account as an admin would by hand (no validation): drift for a full reconciliation."""
        with self._lock:
            self._state.begin()
            self._state.update_user(user_id, changes)
            self._state.commit()

    def users(self, *, include_system: bool = False) -> list[dict[str, Any]]:
        """Copies of every account, by id; guest (1) and admin (2) only with ``include_system``."""
        with self._lock:
            found = [u for u in self._state.users.values() if include_system or u["id"] > 2]
            return copy.deepcopy(found)

    def user(self, user_id: int) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._state.users.get(user_id))

    def user_by_username(self, username: str) -> dict[str, Any] | None:
        with self._lock:
            ids = self._state.ids_by("username", [username])
            return copy.deepcopy(self._state.users[ids[0]]) if ids else None

    def users_by_idnumber(self, idnumber: str) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy([self._state.users[i] for i in self._state.ids_by("idnumber", [idnumber]) if i > 2])

    def add_cohort(self, name: str, idnumber: str = "") -> int:
        with self._lock:
            return self._state.insert_cohort({"name": name, "idnumber": idnumber})

    def cohorts(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(list(self._state.cohorts.values()))

    def add_cohort_member(self, cohort_id: int, user_id: int) -> None:
        """Seed a membership as if added by hand."""
        with self._lock:
            self._state.members.add((cohort_id, user_id))

    def cohort_members(self, cohort_id: int) -> set[int]:
        with self._lock:
            return {user for cohort, user in self._state.members if cohort == cohort_id}

    def reject_user(self, *, username: str | None = None, idnumber: str | None = None) -> None:
        """Fault: any create or update touching this user fails as Moodle's validation fails."""
        with self._lock:
            if username is not None:
                self._state.rejected_usernames.add(username)
            if idnumber is not None:
                self._state.rejected_idnumbers.add(idnumber)

    def clear_rejections(self) -> None:
        with self._lock:
            self._state.rejected_usernames.clear()
            self._state.rejected_idnumbers.clear()

    @property
    def outbox(self) -> list[str]:
        """Usernames sent a password mail, in order; a user mailed twice appears twice."""
        with self._lock:
            return list(self._state.outbox)

    def call_count(self, wsfunction: str | None = None) -> int:
        """Requests that named ``wsfunction`` (all requests to the endpoint when None), whatever the answer."""
        with self._lock:
            return sum(self._calls.values()) if wsfunction is None else self._calls[wsfunction]

    # --- protocol ----------------------------------------------------------------------------------------
    def __call__(self, request: Request) -> Response:
        return self.handle(request)

    def handle(self, request: Request) -> Response:
        if request.path != ENDPOINT:
            return Response.text(404, "Not Found")
        if request.method not in ("GET", "POST"):
            return Response.text(405, "Method Not Allowed")
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        body: list[tuple[str, str]] = []
        if request.method == "POST" and content_type == "application/x-www-form-urlencoded":
            body = parse_qsl(request.body.decode("utf-8", "replace"), keep_blank_values=True)
        params = php_decode([request.query, body], self.max_input_vars)
        fmt = params.pop("moodlewsrestformat", "xml")
        fmt = fmt if fmt in ("xml", "json") else "xml"
        token, wsfunction = params.pop("wstoken", None), params.pop("wsfunction", None)
        try:
            result = self._serve(token, wsfunction, params)
        except MoodleError as exc:
            return _error(exc, fmt, self.debug)
        if fmt == "json":
            return Response(200, _json(result).encode(), {"Content-Type": "application/json"})
        xml = '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n' + _xml(result) + "</RESPONSE>\n"
        return Response(200, xml.encode(), {"Content-Type": "application/xml; charset=utf-8"})

    def _serve(self, token: Any, wsfunction: Any, params: dict[str, Any]) -> Any:
        """One call; a create under ``mail_delay_s`` runs twice: once to count its mails (undone), once to commit.

        The lock is released for the mails' time, so other calls are served meanwhile and see nothing of this
        one; the committing run then validates against the site as it is by then, as the real insert would.
        """
        delay = self.faults.mail_delay_s if wsfunction == "core_user_create_users" else 0.0
        failure: MoodleError | None = None
        with self._lock:
            self._calls[wsfunction if isinstance(wsfunction, str) else ""] += 1
            if not delay:
                return self._call(token, wsfunction, params)
            sent = len(self._state.outbox)
            try:
                self._call(token, wsfunction, params, commit=False)
            except MoodleError as exc:
                failure = exc  # mails sent before the failing user stay sent: mail has no rollback
            mails = len(self._state.outbox) - sent
            if failure is None:
                del self._state.outbox[sent:]  # the committing run sends them
        time.sleep(delay * mails)
        if failure is not None:
            raise failure
        with self._lock:
            try:
                return self._call(token, wsfunction, params)
            except MoodleError as exc:
                # What changed meanwhile is another call's commit; the real INSERT would have waited on the
                # unique index (mnethostid, username) and failed there: a write error, not a validation one.
                raise MoodleError("dml_write_exception", "dmlwriteexception", "Error writing to database") from exc

    def _call(self, token: Any, wsfunction: Any, params: dict[str, Any], *, commit: bool = True) -> Any:
        found = self.tokens.get(token) if isinstance(token, str) else None
        if found is None:
            raise MoodleError("core\\exception\\moodle_exception", "invalidtoken", "Invalid token - token not found")
        if found.expired:
            raise _access("Invalid token - token expired - check validuntil time for the token")
        if found.owner_suspended:
            raise _access("Refused web service access for suspended username: admin")
        if not isinstance(wsfunction, str) or wsfunction not in PARAMETERS:
            raise MoodleError(
                "dml_missing_record_exception",
                "invalidrecord",
                "Can't find data record in database table external_functions.",
            )
        if found.functions is not None and wsfunction not in found.functions:
            raise _access(f"Access to the function {wsfunction}() is not allowed.")
        try:
            cleaned = validate(PARAMETERS[wsfunction], params, self._state.site)
        except InvalidParameter as exc:
            raise invalid(exc.debuginfo) from exc
        if wsfunction in functions.READS:
            answer = functions.CALLS[wsfunction](self._state, cleaned, self.site_url)
            if wsfunction == "core_webservice_get_site_info" and found.functions is not None:
                # the functions of the token's service only, as webservice::get_external_functions answers
                answer["functions"] = [f for f in answer["functions"] if f["name"] in found.functions]
            return answer
        self._state.begin()  # one transaction; sequences (ids) are not rolled back, as in SQL
        try:
            answer = functions.CALLS[wsfunction](self._state, cleaned, self.site_url)
        except BaseException:
            self._state.rollback()
            raise
        if commit:
            self._state.commit()
        else:
            self._state.rollback()
        return answer


def _access(debuginfo: str) -> MoodleError:
    return MoodleError("webservice_access_exception", "accessexception", "Access control exception", debuginfo)


def _json(value: Any) -> str:
    """``json_encode``: ASCII with ``\\u`` escapes, no spaces, and ``/`` escaped."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def _escape(text: str) -> str:
    """``htmlspecialchars`` with ENT_COMPAT."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


_NULL = '<VALUE null="null"/>\n'


def _xml(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        keys = "".join(f'<KEY name="{k}">{_xml(v) or _NULL}</KEY>\n' for k, v in value.items())
        return f"<SINGLE>\n{keys}</SINGLE>\n"
    if isinstance(value, list):
        return "<MULTIPLE>\n" + "".join(_xml(v) for v in value) + "</MULTIPLE>\n"
    if isinstance(value, bool):
        value = int(value)
    return f"<VALUE>{_escape(str(value))}</VALUE>\n"


def _error(exc: MoodleError, fmt: str, debug: bool) -> Response:
    if fmt == "json":
        body: dict[str, Any] = {"exception": exc.exception, "errorcode": exc.errorcode, "message": exc.message}
        if debug and exc.debuginfo is not None:
            body["debuginfo"] = exc.debuginfo
        return Response(200, _json(body).encode(), {"Content-Type": "application/json"})
    xml = f'<?xml version="1.0" encoding="UTF-8" ?>\n<EXCEPTION class="{exc.exception}">\n'
    xml += f"<ERRORCODE>{_escape(exc.errorcode)}</ERRORCODE>\n<MESSAGE>{_escape(exc.message)}</MESSAGE>\n"
    if debug and exc.debuginfo is not None:
        xml += f"<DEBUGINFO>{_escape(exc.debuginfo)}</DEBUGINFO>\n"
    return Response(200, (xml + "</EXCEPTION>\n").encode(), {"Content-Type": "application/xml; charset=utf-8"})


@dataclass
class RunningMoodle:
    """A served emulator: ``url`` is the site root, the endpoint is ``{url}/webservice/rest/server.php``."""

    url: str
    token: str
    emulator: MoodleEmulator
    server: EmulatorServer

    @property
    def endpoint(self) -> str:
        return self.url + ENDPOINT

    def fresh(self, **settings: Any) -> RunningMoodle:
        """A new, empty site on the same server (cheaper than a new server per test); faults are kept."""
        emulator = MoodleEmulator(site_url=self.url, **settings)
        emulator.faults = self.server.faults
        self.server.handler = emulator
        return RunningMoodle(self.url, emulator.token, emulator, self.server)


@contextmanager
def running_moodle(faults: Faults | None = None, **settings: Any) -> Iterator[RunningMoodle]:
    """Serve a fresh :class:`MoodleEmulator` (``settings`` go to its constructor) on 127.0.0.1."""
    emulator = MoodleEmulator(**settings)
    with EmulatorServer(emulator, faults) as server:
        emulator.site_url, emulator.faults = server.url, server.faults
        yield RunningMoodle(server.url, emulator.token, emulator, server)
