"""Moodle Web Services (REST) client: look users up, create them, update them.

Domain operations: ``site_info``, ``find_users``, ``users_with_email_like``, ``users_with_auth``,
``create_users``, ``update_users``; and for the cohort module, ``call`` (one web-service call) and ``fitting``
(records in chunks under ``max_input_vars``). Every call is a POST to ``{url}/webservice/rest/server.php`` with a
form body: ``wstoken`` (in the body only, never in the URL), ``wsfunction``, ``moodlewsrestformat=json`` and the
arguments in PHP bracket encoding (``users[0][username]=a``); booleans travel as ``0``/``1`` and None values are
left out.

Retries of throttling and dropped connections happen in ONE layer, the session's transport
(``bamboohr_moodle_sync.http``): reads (``READ_FUNCTIONS``) through a session that resends after a
read timeout, writes through one that never resends once the request may have reached Moodle. This
client *splits* calls: a create or update chunk that Moodle rejects as a whole for a per-record reason
is halved recursively until the bad record is alone, so the others still land (each bad record costs
about ``2 * log2(chunk size)`` extra calls). A write whose answer was lost is not resent blindly:
``moodle_writes`` finds out what landed, and sizes create calls to the read timeout.

Errors it raises (from ``errors``)::

    SyncError
    ├── ServiceUnreachable         connection refused, timeout of a read (after the transport's retries)
    │   └── WriteUnconfirmed       more lost write answers in one batch than ``moodle_writes`` recovers from
    └── ServiceRejected            HTTP status other than 200, or an answer that is not JSON
        ├── MoodleError            HTTP 200 with {"exception", "errorcode", "message"[, "debuginfo"]}
        └── AuthenticationFailed   errorcode in AUTH_ERRORCODES (invalidtoken, accessexception, ...):
                                   the message names the secret to fix

Errors are matched on ``errorcode``, never on the exception class (Moodle 4.5 namespaces it as
``core\\exception\\...``). Per-record problems are ``RecordFailure`` values, not errors.

``max_input_vars``: PHP silently drops form variables past this limit, so every call counts its leaf
variables (plus the three ``ws`` ones) and chunks records by their actual leaf counts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import requests

from .errors import AuthenticationFailed, ServiceRejected, ServiceUnreachable, WriteUnconfirmed
from .http import DEFAULT_TIMEOUT, Timeout, make_session, may_have_reached, write_session_like
from .models import MoodleUser, RecordFailure
from .moodle_wire import encode_form, leaf_count, parse_user, plausible
from .moodle_writes import Pace, Writes

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

log = logging.getLogger(__name__)

SERVICE = "Moodle"
WS_VARS = 3
"""``wstoken``, ``wsfunction`` and ``moodlewsrestformat``: counted against ``max_input_vars``."""

AUTH_ERRORCODES = frozenset({"invalidtoken", "accessexception", "nopermissions", "servicenotavailable"})
"""Errorcodes that mean the token (or its user, or its service) is refused: ``AuthenticationFailed``."""

RECORD_ERRORCODES = frozenset({"invalidparameter", "dmlwriteexception", "usernamelowercase", "invalidusername"})
"""Errorcodes a single bad record can cause; a chunk rejected with one of these is split to find it.

With debugging off, Moodle 4.5 answers every validation failure (duplicate username or e-mail, bad
characters, an empty name, an unknown key, ...) as ``invalidparameter`` with no reason, and an
over-long value as ``dmlwriteexception``. Every other errorcode propagates at once.
"""

FindField = Literal["id", "idnumber", "username", "email"]

READ_FUNCTIONS = frozenset(
    {
        "core_webservice_get_site_info",
        "core_user_get_users_by_field",
        "core_user_get_users",
        "core_cohort_get_cohorts",
        "core_cohort_get_cohort_members",
    }
)
"""Functions that change nothing: the transport may resend them after a read timeout. Every other one is a write."""


class MoodleError(ServiceRejected):
    """Moodle answered HTTP 200 with an exception object."""

    def __init__(self, function: str, errorcode: str, exception: str, message: str, debuginfo: str | None = None):
        text = f"{function}: {message}" + (f" [{debuginfo}]" if debuginfo else "")
        super().__init__(SERVICE, text, errorcode=errorcode)
        self.function = function
        self.exception = exception
        self.moodle_message = message
        self.debuginfo = debuginfo

    @property
    def reason(self) -> str:
        """One line for a ``RecordFailure``: errorcode and message (debuginfo, which names values, is apart)."""
        return f"{self.errorcode}: {self.moodle_message}"


class MoodleClient:
    """The Moodle Web Services REST API as this project uses it.

    ``url`` is the site root; ``session`` (reads) defaults to ``http.make_session()`` and
    ``write_session`` to one with the same policy that never resends a write once sent;
    ``max_input_vars`` is the site's PHP limit (default 1000); ``credential_hint`` names the secret an
    operator fixes when the token is refused; ``timeout`` ``(connect, read)`` is passed on every call;
    ``clock`` and ``sleep`` time create calls and the wait for a lost one to commit.
    """

    def __init__(
        self,
        url: str,
        token: str,
        session: requests.Session | None = None,
        max_input_vars: int = 1000,
        *,
        credential_hint: str = "the Moodle web service token (secret MOODLE_SECRET_ID)",
        timeout: Timeout = DEFAULT_TIMEOUT,
        write_session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_input_vars <= WS_VARS + 1:
            raise ValueError(f"max_input_vars must exceed {WS_VARS + 1}")
        self._endpoint = url.rstrip("/") + "/webservice/rest/server.php"
        self._host = urlsplit(url).netloc
        self._token = token
        self._session = session or make_session(service=SERVICE)
        self._writes = write_session or write_session_like(self._session, SERVICE)
        self._max_vars = max_input_vars
        self._hint = credential_hint
        self._timeout = timeout
        self._clock, self._sleep = clock, sleep

    def __repr__(self) -> str:
        return f"MoodleClient({self._endpoint!r})"

    # -- domain operations -------------------------------------------------------------------

    def site_info(self) -> dict[str, Any]:
        """``core_webservice_get_site_info``: site name, release, the token user, its functions."""
        answer = self._call("core_webservice_get_site_info", {})
        if not isinstance(answer, dict):
            raise ServiceRejected(SERVICE, "core_webservice_get_site_info did not answer an object")
        return answer

    def find_users(self, field: FindField, values: Sequence[str]) -> list[MoodleUser]:
        """Users whose ``field`` equals one of ``values`` (``core_user_get_users_by_field``, chunked).

        No call for no values. Moodle fails the whole call when any value changes under its
        cleaning (an uppercase or untrimmed username, a non-numeric id, a malformed e-mail), so such
        values are dropped before sending when obvious, and otherwise isolated by splitting the
        chunk: a value Moodle refuses on its own matches nobody (logged). Answers come in no promised
        order; an idnumber two users hold answers both.
        """
        unique = [v for v in dict.fromkeys(values) if plausible(field, v)]
        found: list[MoodleUser] = []
        for chunk in self._chunks(unique, base=1):
            found.extend(self._split(chunk, lambda part: self._find_chunk(field, part), self._drop_value(field)))
        return found

    def users_with_email_like(self, pattern: str) -> list[MoodleUser]:
        """``core_user_get_users`` with one criterion, email ``ILIKE pattern`` (``%`` and ``_`` are wildcards,
        a backslash escapes them; the match ignores case). The answer is a superset of what the caller
        means whenever the pattern has wildcards, so callers filter it.

        Never sends a request Moodle would answer with every user: the pattern must not be blank, and an
        answer that warns the key was not accepted is refused (``ServiceRejected``).
        """
        if not pattern.strip():
            raise ValueError("an empty e-mail pattern would match nobody; refusing to send it")
        answer = self._call("core_user_get_users", {"criteria": [{"key": "email", "value": pattern}]})
        if not isinstance(answer, dict) or not isinstance(answer.get("users"), list):
            raise ServiceRejected(SERVICE, "core_user_get_users did not answer {users, warnings}")
        if answer.get("warnings"):
            codes = ", ".join(str(w.get("warningcode", "?")) for w in answer["warnings"] if isinstance(w, dict))
            raise ServiceRejected(SERVICE, f"core_user_get_users did not accept the email criterion ({codes})")
        return [parse_user(item) for item in answer["users"] if isinstance(item, dict)]

    def users_with_auth(self, auth: str) -> list[MoodleUser]:
        """``core_user_get_users`` with one criterion, ``auth`` equal to ``auth``: every such account on the site
        (the suspension guard counts the active accounts the sync manages from it)."""
        if not auth.strip():
            raise ValueError("an empty auth would match nobody; refusing to send it")
        answer = self._call("core_user_get_users", {"criteria": [{"key": "auth", "value": auth}]})
        if not isinstance(answer, dict) or not isinstance(answer.get("users"), list) or answer.get("warnings"):
            raise ServiceRejected(SERVICE, "core_user_get_users did not accept the auth criterion")
        return [parse_user(item) for item in answer["users"] if isinstance(item, dict)]

    def create_users(self, users: Sequence[Mapping[str, object]]) -> tuple[list[tuple[str, int]], list[RecordFailure]]:
        """Create ``users`` (each with ``idnumber``): ``([(idnumber, new Moodle id)], failures by idnumber)``.

        ``core_user_create_users`` is one transaction per call: a chunk rejected with a
        ``RECORD_ERRORCODES`` error is halved until the bad record is alone; it becomes a
        ``RecordFailure`` and the rest are created. A record too large for ``max_input_vars`` fails
        without a call. After the first call, chunks are also limited to what fits in the read timeout;
        a call whose answer is lost is followed up by lookups, not resent blindly (``moodle_writes``).
        """
        created: list[tuple[str, int]] = []
        failures: list[RecordFailure] = []
        records = list(users)
        writes = self._writes_for_batch("idnumber")
        chunks = self._chunks(records, base=0, oversize=failures, key="idnumber", most=writes.pace.most)
        for chunk in chunks:
            for outcome in self._split(chunk, writes.create, self._fail_record("idnumber")):
                if isinstance(outcome, RecordFailure):
                    failures.append(outcome)
                else:
                    created.append(outcome)
        exist = writes.confirm_failures(records, failures)
        if exist:
            created += exist
            failures = [f for f in failures if f.employee_id not in {idnumber for idnumber, _ in exist}]
        return created, failures

    def update_users(self, users: Sequence[Mapping[str, object]]) -> list[RecordFailure]:
        """Update ``users`` (each with ``id``); failures keyed by the Moodle id, as a string.

        ``RecordFailure.employee_id`` holds the *Moodle user id* here: the caller maps it back to
        its employee. Each of Moodle's warnings (``invaliduserid``, ``useremailduplicate``, ...) is a
        failure; a whole call rejected for a per-record reason is split as for ``create_users``.
        """
        failures: list[RecordFailure] = []
        writes = self._writes_for_batch("id")
        for chunk in self._chunks(list(users), base=0, oversize=failures, key="id"):
            failures.extend(self._split(chunk, writes.update, self._fail_record("id")))
        return failures

    def _writes_for_batch(self, key: str) -> Writes:
        fail = self._fail_record(key)
        return Writes(
            send_create=self._create_chunk,
            send_update=self._update_chunk,
            find=lambda field, values: self.find_users(field, values),  # type: ignore[arg-type]
            split=lambda chunk, send: self._split(chunk, send, fail),
            pace=Pace(self._timeout[1]),
            clock=self._clock,
            sleep=self._sleep,
        )

    # -- one call each ----------------------------------------------------------------------------

    def _find_chunk(self, field: FindField, values: list[str]) -> list[MoodleUser]:
        answer = self._call("core_user_get_users_by_field", {"field": field, "values": values})
        if not isinstance(answer, list):
            raise ServiceRejected(SERVICE, "core_user_get_users_by_field did not answer a list")
        return [parse_user(item) for item in answer if isinstance(item, dict)]

    def _create_chunk(self, chunk: list[Mapping[str, object]]) -> list[tuple[str, int] | RecordFailure]:
        answer = self._call("core_user_create_users", {"users": chunk})
        if not isinstance(answer, list):
            raise ServiceRejected(SERVICE, "core_user_create_users did not answer a list")
        by_username = {str(user.get("username", "")).strip().lower(): str(user["idnumber"]) for user in chunk}
        out: list[tuple[str, int] | RecordFailure] = []
        for position, item in enumerate(answer):
            idnumber = by_username.get(str(item.get("username", "")))
            if idnumber is None and position < len(chunk):
                idnumber = str(chunk[position]["idnumber"])
            out.append((str(idnumber), int(item["id"])))
        return out

    def _update_chunk(self, chunk: list[Mapping[str, object]]) -> list[RecordFailure]:
        answer = self._call("core_user_update_users", {"users": chunk})
        warnings = answer.get("warnings", []) if isinstance(answer, dict) else []
        return [
            RecordFailure(
                employee_id=str(warning.get("itemid", "")),
                reason=f"{warning.get('warningcode', 'warning')}: {warning.get('message', '')}",
            )
            for warning in warnings
            if isinstance(warning, dict)
        ]

    # -- chunking and splitting -----------------------------------------------------------------

    def _chunks(
        self,
        records: list[Any],
        *,
        base: int,
        oversize: list[RecordFailure] | None = None,
        key: str = "",
        most: Callable[[], int | None] = lambda: None,
    ) -> Iterator[list[Any]]:
        """Consecutive chunks whose leaves plus ``WS_VARS`` plus ``base`` stay within ``max_input_vars``, and of at
        most ``most()`` records (asked again as each chunk starts; None: no limit)."""
        budget = self._max_vars - WS_VARS - base
        chunk: list[Any] = []
        used = 0
        limit = most()
        for record in records:
            cost = leaf_count(record)
            if cost > budget:
                if oversize is None:
                    raise ValueError(f"a value costs {cost} form variables, over max_input_vars")
                oversize.append(
                    RecordFailure(str(record.get(key, "")), f"record has {cost} form variables, over max_input_vars")
                )
                continue
            if chunk and (used + cost > budget or (limit is not None and len(chunk) >= limit)):
                yield chunk
                chunk, used, limit = [], 0, most()
            chunk.append(record)
            used += cost
        if chunk:
            yield chunk

    @staticmethod
    def _split(
        chunk: list[Any], send: Callable[[list[Any]], list[Any]], alone: Callable[[Any, MoodleError], list[Any]]
    ) -> list[Any]:
        """``send(chunk)``; on a per-record rejection, halve and retry until the bad record is alone."""
        try:
            return send(chunk)
        except MoodleError as exc:
            if exc.errorcode not in RECORD_ERRORCODES:
                raise
            if len(chunk) == 1:
                return alone(chunk[0], exc)
            log.warning(
                "Moodle rejected a chunk of %d (%s); splitting it in two to isolate the bad record",
                len(chunk),
                exc.errorcode,
            )
            middle = len(chunk) // 2
            return MoodleClient._split(chunk[:middle], send, alone) + MoodleClient._split(chunk[middle:], send, alone)

    @staticmethod
    def _fail_record(key: str) -> Callable[[Any, MoodleError], list[Any]]:
        def fail(record: Mapping[str, object], exc: MoodleError) -> list[Any]:
            return [RecordFailure(str(record.get(key, "")), exc.reason, exc.debuginfo or "")]

        return fail

    @staticmethod
    def _drop_value(field: str) -> Callable[[Any, MoodleError], list[Any]]:
        def drop(value: str, exc: MoodleError) -> list[Any]:
            log.warning("Moodle refused one %s lookup value (%s); it matches no user", field, exc.errorcode)
            return []

        return drop

    # -- for the cohort calls (``cohorts``) --------------------------------------------------------

    def call(self, function: str, arguments: Mapping[str, object]) -> Any:
        """One web-service call, sent and answered as every call of this client (errors included)."""
        return self._call(function, arguments)

    def fitting(self, records: Sequence[Any], *, base: int = 0) -> Iterator[list[Any]]:
        """``records`` in consecutive chunks that each fit one call under ``max_input_vars`` (``base``: the
        call's other variables); a record too large alone is a ``ValueError``."""
        return self._chunks(list(records), base=base)

    # -- transport ----------------------------------------------------------------------------

    def _call(self, function: str, arguments: Mapping[str, object]) -> Any:
        form = [("wstoken", self._token), ("wsfunction", function), ("moodlewsrestformat", "json")]
        for name, value in arguments.items():
            form.extend(encode_form(name, value))
        if len(form) > self._max_vars:  # the chunking keeps this from happening; never send a truncated call
            raise ValueError(f"{function} would send {len(form)} variables, over max_input_vars {self._max_vars}")
        session = self._session if function in READ_FUNCTIONS else self._writes
        started = self._clock()
        try:
            # Never follow a redirect: a 307/308 would send the token in the body to wherever it points.
            response = session.post(self._endpoint, data=form, timeout=self._timeout, allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as exc:
            seconds = self._clock() - started
            detail = f"{function}: {type(exc).__name__} after {seconds:.1f} s"
            if function not in READ_FUNCTIONS and may_have_reached(exc):
                raise WriteUnconfirmed(SERVICE, detail, host=self._host, seconds=seconds) from exc
            raise ServiceUnreachable(SERVICE, detail, host=self._host) from exc
        except requests.RequestException as exc:
            raise ServiceRejected(SERVICE, f"{function}: {type(exc).__name__}") from exc
        log.debug("Moodle %s (%d variables) -> HTTP %s", function, len(form), response.status_code)
        if response.is_redirect:
            raise ServiceRejected(
                SERVICE,
                f"{function}: the site redirects to {response.headers.get('Location', '?')}; "
                "set MOODLE_URL to the site's own address (its wwwroot)",
                status=response.status_code,
            )
        if response.status_code != 200:
            raise ServiceRejected(
                SERVICE, f"{function}: {response.reason or 'no reason given'}", status=response.status_code
            )
        try:
            answer = response.json()
        except ValueError as exc:
            raise ServiceRejected(SERVICE, f"{function} did not answer JSON", status=200) from exc
        if isinstance(answer, dict) and "exception" in answer and "errorcode" in answer:
            self._raise(function, answer)
        return answer

    def _raise(self, function: str, answer: Mapping[str, Any]) -> None:
        errorcode = str(answer["errorcode"])
        message = self._scrub(str(answer.get("message", "")))
        debuginfo = self._scrub(str(answer["debuginfo"])) if answer.get("debuginfo") else None
        if errorcode in AUTH_ERRORCODES:
            raise AuthenticationFailed(
                SERVICE, f"{function}: {message}; fix {self._hint} or its user's access", errorcode=errorcode
            )
        raise MoodleError(function, errorcode, str(answer["exception"]), message, debuginfo)

    def _scrub(self, text: str) -> str:
        return text.replace(self._token, "***") if self._token else text
