"""The HTTP transport both clients share: a ``requests.Session`` with bounded retries and timeouts.

This is the ONE layer that retries HTTP throttling and dropped connections. The clients above it
(``bamboohr``, ``moodle``) never resend a failed call blindly, and the state machine retries only whole
task failures; a retry in two layers would multiply the attempts.

A session is made for reads (the default) or for writes (``resend_after_sending=False``). What each retries:

- HTTP 408, 429 and 503, both: the service did not act on the request (timeout waiting for it, throttling);
- HTTP 504, reads only: a gateway gave up waiting, so the service may still be acting on it;
- connection failures before the request was sent (refused, connect timeout), both;
- read errors (the connection dropped, or the answer did not come within the read timeout, after the request
  was sent), reads only. A write that may have reached the service raises instead (``requests.ReadTimeout``
  or ``requests.ConnectionError``; ``may_have_reached`` tells them from a failure to connect), and the client
  finds out what landed before it sends anything again.

Moodle's web services are all POSTs, so the Moodle client decides per ``wsfunction`` which session a call
takes; BambooHR's calls are all reads (its custom report is a POST that reads).

Waits follow urllib3: the first retry is immediate, then ``backoff_factor * 2 ** (n - 1)`` seconds
plus up to ``backoff_jitter`` seconds of random jitter, never more than ``backoff_max``; a
``Retry-After`` header (seconds or HTTP date) replaces that wait, capped at ``backoff_max`` rounded
up to whole seconds. After ``total_attempts`` attempts the last answer is returned as is
(``raise_on_status`` is off), so the client maps its status to a typed error; a last connection
failure surfaces as ``requests.ConnectionError`` (or ``Timeout``), which the clients map to
``ServiceUnreachable``. Other statuses (400, 401, 403, 404, 500, ...) are never retried: they fail
fast. Every retry is logged at WARNING (service, cause, retry n of m; never the URL) and counted in
``RETRIES`` by service.

Every call made through the session carries a ``(connect, read)`` timeout: the adapter fills in the
policy's timeouts when the caller passes none.

Errors: this module raises none of its own; see ``errors`` for the hierarchy the clients map to::

    requests.ConnectionError / requests.Timeout  ->  ServiceUnreachable (WriteUnconfirmed for a write that
                                                     may have reached the service)
    HTTP status after retries                    ->  ServiceRejected (AuthenticationFailed for 401/403)
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 503, 504})
"""The statuses worth another attempt for a read: timeouts and throttling. Everything else fails fast."""

WRITE_RETRY_STATUSES = frozenset({408, 429, 503})
"""The statuses that say the service did not act on the request: a write is resent only on these."""

RETRIES: Counter[str] = Counter()
"""Retries made in this process, by service name (``make_session(service=...)``)."""

RETRY_METHODS = frozenset({"GET", "POST"})

Timeout = tuple[float, float]
"""``(connect, read)`` seconds, as requests takes it."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard the transport tries.

    With the defaults one call waits at most about 34 s between its 6 attempts (0, 2, 4, 8, 16 s plus
    jitter), or 5 x 30 s when the service keeps asking for a long ``Retry-After``; each attempt is
    bounded by the (connect, read) timeouts.

    ``total_attempts`` counts the first attempt (6 means up to 5 retries); ``backoff_max`` caps both
    the computed backoff and any ``Retry-After`` the service asks for.
    """

    total_attempts: int = 6
    backoff_factor: float = 1.0
    backoff_max: float = 30.0
    backoff_jitter: float = 1.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.total_attempts < 1:
            raise ValueError("total_attempts must be at least 1")
        if self.backoff_max < 0 or self.backoff_factor < 0 or self.backoff_jitter < 0:
            raise ValueError("backoff settings must not be negative")

    @property
    def timeout(self) -> Timeout:
        return (self.connect_timeout, self.read_timeout)

    def retry(self, *, resend_after_sending: bool = True, service: str = "HTTP") -> LoggedRetry:
        """The urllib3 ``Retry`` that carries this policy; a write's (``resend_after_sending=False``) raises
        read errors instead of resending, and resends only on ``WRITE_RETRY_STATUSES``."""
        retries = self.total_attempts - 1
        return LoggedRetry(
            service=service,
            total=retries,
            connect=retries,
            read=retries if resend_after_sending else False,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=RETRY_METHODS,
            status_forcelist=RETRY_STATUSES if resend_after_sending else WRITE_RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            respect_retry_after_header=True,
            retry_after_max=math.ceil(self.backoff_max),
            raise_on_status=False,
            raise_on_redirect=False,
        )


class LoggedRetry(Retry):
    """urllib3's ``Retry`` that logs each retry at WARNING and counts it in ``RETRIES`` under ``service``."""

    def __init__(self, *args: Any, service: str = "HTTP", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.service = service

    def new(self, **kw: Any) -> Self:
        fresh = super().new(**kw)
        fresh.service = self.service
        return fresh

    def increment(self, method: str | None = None, url: str | None = None, *args: Any, **kwargs: Any) -> Self:
        response = kwargs.get("response", args[0] if args else None)
        error = kwargs.get("error", args[1] if len(args) > 1 else None)
        fresh = super().increment(method, url, *args, **kwargs)  # raises when nothing more may be tried
        cause = type(error).__name__ if error is not None else f"HTTP {getattr(response, 'status', '?')}"
        RETRIES[self.service] += 1
        most = len(self.history) + self.total if isinstance(self.total, int) else "?"
        log.warning(
            "%s request retried after %s (retry %d of at most %s; %d retries so far in this task)",
            self.service,
            cause,
            len(fresh.history),
            most,
            RETRIES[self.service],
        )
        return fresh


DEFAULT_POLICY = RetryPolicy()
DEFAULT_TIMEOUT: Timeout = DEFAULT_POLICY.timeout


class TimeoutRetryAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` with the policy's ``Retry`` and a default timeout for calls that set none."""

    def __init__(self, policy: RetryPolicy, *, resend_after_sending: bool = True, service: str = "HTTP") -> None:
        super().__init__(max_retries=policy.retry(resend_after_sending=resend_after_sending, service=service))
        self.policy = policy
        self.resend_after_sending = resend_after_sending
        self.service = service

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self.policy.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def make_session(
    policy: RetryPolicy | None = None,
    *,
    user_agent: str = "bamboohr-moodle-sync",
    resend_after_sending: bool = True,
    service: str = "HTTP",
) -> requests.Session:
    """A session whose HTTP and HTTPS calls retry per ``policy`` (default ``DEFAULT_POLICY``) and time out.

    ``resend_after_sending=False`` makes a session for writes (see the module docstring); ``service`` names the
    client in retry warnings and in ``RETRIES``.
    """
    policy = policy or DEFAULT_POLICY
    session = requests.Session()
    adapter = TimeoutRetryAdapter(policy, resend_after_sending=resend_after_sending, service=service)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def write_session_like(session: requests.Session, service: str) -> requests.Session:
    """A session for writes with ``session``'s policy; ``session`` itself when it is not one of ours."""
    adapter = session.get_adapter("https://")
    if not isinstance(adapter, TimeoutRetryAdapter):
        return session
    writes = make_session(adapter.policy, resend_after_sending=False, service=service)
    writes.headers.update(session.headers)
    return writes


def may_have_reached(exc: requests.RequestException) -> bool:
    """False only when the request cannot have reached the server: the connection was never made."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, MaxRetryError):
        reason = reason.reason
    return not isinstance(reason, NewConnectionError | ConnectTimeoutError)


def request_id(response: requests.Response) -> str | None:
    """The service's request id, when it sent one (BambooHR: ``x-request-id``)."""
    headers: Any = response.headers
    value = headers.get("x-request-id") or headers.get("x-requestid")
    return str(value) if value else None
