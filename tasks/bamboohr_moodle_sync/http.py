"""The HTTP transport both clients share: a ``requests.Session`` with bounded retries and timeouts.

This is the ONE layer that retries HTTP throttling and dropped connections. The clients above it
(``bamboohr``, ``moodle``) never loop on a failed call, and the state machine retries only whole
task failures; a retry in two layers would multiply the attempts.

What is retried, for GET and POST alike (POST is safe here: BambooHR's custom report is a read, and
Moodle writes are made idempotent by the caller looking users up before creating them):

- HTTP 408, 429, 503 and 504 (BambooHR throttles with 503, newer endpoints with 429);
- connection errors (refused, reset before the request was sent) and read errors (the connection
  dropped or timed out after the request was sent).

Waits follow urllib3: the first retry is immediate, then ``backoff_factor * 2 ** (n - 1)`` seconds
plus up to ``backoff_jitter`` seconds of random jitter, never more than ``backoff_max``; a
``Retry-After`` header (seconds or HTTP date) replaces that wait, capped at ``backoff_max`` rounded
up to whole seconds. After ``total_attempts`` attempts the last answer is returned as is
(``raise_on_status`` is off), so the client maps its status to a typed error; a last connection
failure surfaces as ``requests.ConnectionError`` (or ``Timeout``), which the clients map to
``ServiceUnreachable``. Other statuses (400, 401, 403, 404, 500, ...) are never retried: they fail
fast.

Every call made through the session carries a ``(connect, read)`` timeout: the adapter fills in the
policy's timeouts when the caller passes none.

Errors: this module raises none of its own; see ``errors`` for the hierarchy the clients map to::

    requests.ConnectionError / requests.Timeout  ->  ServiceUnreachable
    HTTP status after retries                    ->  ServiceRejected (AuthenticationFailed for 401/403)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

if TYPE_CHECKING:
    from collections.abc import Mapping

RETRY_STATUSES = frozenset({408, 429, 503, 504})
"""The statuses worth another attempt: timeouts and throttling. Everything else fails fast."""

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

    def retry(self) -> Retry:
        """The urllib3 ``Retry`` that carries this policy."""
        retries = self.total_attempts - 1
        return Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            redirect=0,
            allowed_methods=RETRY_METHODS,
            status_forcelist=RETRY_STATUSES,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            backoff_jitter=self.backoff_jitter,
            respect_retry_after_header=True,
            retry_after_max=math.ceil(self.backoff_max),
            raise_on_status=False,
            raise_on_redirect=False,
        )


DEFAULT_POLICY = RetryPolicy()
DEFAULT_TIMEOUT: Timeout = DEFAULT_POLICY.timeout


class TimeoutRetryAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` with the policy's ``Retry`` and a default timeout for calls that set none."""

    def __init__(self, policy: RetryPolicy) -> None:
        super().__init__(max_retries=policy.retry())
        self.policy = policy

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


def make_session(policy: RetryPolicy | None = None, *, user_agent: str = "bamboohr-moodle-sync") -> requests.Session:
    """A session whose HTTP and HTTPS calls retry per ``policy`` (default ``DEFAULT_POLICY``) and time out."""
    policy = policy or DEFAULT_POLICY
    session = requests.Session()
    adapter = TimeoutRetryAdapter(policy)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["User-Agent"] = user_agent
    return session


def request_id(response: requests.Response) -> str | None:
    """The service's request id, when it sent one (BambooHR: ``x-request-id``)."""
    headers: Any = response.headers
    value = headers.get("x-request-id") or headers.get("x-requestid")
    return str(value) if value else None
