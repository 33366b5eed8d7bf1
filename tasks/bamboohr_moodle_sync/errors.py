"""The errors the batch task raises. Each message is the one line an operator reads on stderr.

    SyncError                      anything that fails the batch (exit code non-zero, watermark untouched)
    ├── ConfigError                a setting is missing or malformed
    ├── ServiceUnreachable         the call never completed: connection refused or dropped, timeout; names the host
    │   └── WriteUnconfirmed       a write that may have reached the service got no answer: look before resending
    ├── ServiceRejected            the service answered no (HTTP status, Moodle errorcode)
    │   └── AuthenticationFailed   the credentials were refused: fix the secret the message names
    ├── FieldNotVisible            BambooHR left a field out for every employee (key lacks permission)
    ├── MassSuspensionBlocked      the window would suspend more accounts than MAX_SUSPENSIONS allows
    └── CohortRemovalsBlocked      the window would remove more cohort members than MAX_COHORT_REMOVALS allows

Per-record problems (a bad e-mail, one rejected user) are not errors: they are ``RecordFailure`` values.
No message ever carries a secret: clients put tokens in headers or bodies, never in URLs or messages.
"""

from __future__ import annotations


class SyncError(Exception):
    """Base of every error that fails a batch."""


class ConfigError(SyncError):
    pass


class ServiceUnreachable(SyncError):
    what_happened = "could not be reached"

    def __init__(self, service: str, detail: str, *, host: str = ""):
        where = f" at {host}" if host else ""
        super().__init__(f"{service}{where} {self.what_happened}: {detail}")
        self.service = service
        self.host = host
        self.detail = detail


class WriteUnconfirmed(ServiceUnreachable):
    """A write was sent, but its answer never came (read timeout, connection dropped): it may have landed."""

    what_happened = "did not answer a write, which may have landed"

    def __init__(self, service: str, detail: str, *, host: str = "", seconds: float = 0.0):
        super().__init__(service, detail, host=host)
        self.seconds = seconds


class ServiceRejected(SyncError):
    def __init__(
        self,
        service: str,
        message: str,
        *,
        status: int | None = None,
        errorcode: str | None = None,
        request_id: str | None = None,
    ):
        context = ", ".join(
            part
            for part in (
                f"HTTP {status}" if status is not None else "",
                f"errorcode {errorcode}" if errorcode else "",
                f"request id {request_id}" if request_id else "",
            )
            if part
        )
        super().__init__(f"{service} refused the request: {message}" + (f" ({context})" if context else ""))
        self.service = service
        self.status = status
        self.errorcode = errorcode
        self.request_id = request_id


class AuthenticationFailed(ServiceRejected):
    pass


class FieldNotVisible(SyncError):
    pass


class MassSuspensionBlocked(SyncError):
    pass


class CohortRemovalsBlocked(SyncError):
    pass
