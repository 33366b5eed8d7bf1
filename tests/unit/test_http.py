"""The shared transport against a real local HTTP server: what is retried, how long it waits, what fails fast."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING

import pytest
import requests

from bamboohr_moodle_sync.http import RETRIES, RetryPolicy, make_session, may_have_reached, write_session_like

if TYPE_CHECKING:
    from collections.abc import Iterator

FAST = RetryPolicy(total_attempts=4, backoff_factor=0.001, backoff_max=1.0, backoff_jitter=0.0, read_timeout=2.0)


@dataclass
class Script:
    """What the server answers, request by request; the last step repeats."""

    steps: list[tuple[str, int, dict[str, str]]] = field(default_factory=list)
    seen: list[tuple[str, float]] = field(default_factory=list)

    def next(self, method: str) -> tuple[str, int, dict[str, str]]:
        self.seen.append((method, time.monotonic()))
        return self.steps[min(len(self.seen), len(self.steps)) - 1]


class _Handler(BaseHTTPRequestHandler):
    script: Script

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        kind, status, headers = self.script.next(self.command)
        if kind == "drop":
            self.close_connection = True
            return
        if kind == "slow":
            time.sleep(float(headers["seconds"]))
        body = b'{"ok": true}'
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client stopped waiting (a read timeout)
            self.close_connection = True

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, Script]]:
    script = Script()
    handler = type("Handler", (_Handler,), {"script": script})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", script
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def ok() -> tuple[str, int, dict[str, str]]:
    return ("answer", 200, {})


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_503_storm_with_retry_after_ends_in_success(server: tuple[str, Script], method: str) -> None:
    url, script = server
    script.steps = [("answer", 503, {"Retry-After": "0"})] * 3 + [ok()]

    response = make_session(FAST).request(method, url, data=b"x" if method == "POST" else None)

    assert response.status_code == 200
    assert [m for m, _ in script.seen] == [method] * 4


@pytest.mark.parametrize("status", [408, 429, 503, 504])
def test_throttling_and_timeout_statuses_are_retried(server: tuple[str, Script], status: int) -> None:
    url, script = server
    script.steps = [("answer", status, {}), ok()]

    assert make_session(FAST).get(url).status_code == 200
    assert len(script.seen) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 500])
def test_other_statuses_fail_fast_without_a_retry(server: tuple[str, Script], status: int) -> None:
    url, script = server
    script.steps = [("answer", status, {}), ok()]

    assert make_session(FAST).post(url, data=b"x").status_code == status
    assert len(script.seen) == 1


def test_retry_after_is_honoured(server: tuple[str, Script]) -> None:
    url, script = server
    script.steps = [("answer", 503, {"Retry-After": "1"}), ok()]

    make_session(FAST).get(url)

    assert script.seen[1][1] - script.seen[0][1] >= 0.9


def test_a_long_retry_after_is_capped_at_backoff_max(server: tuple[str, Script]) -> None:
    url, script = server
    script.steps = [("answer", 429, {"Retry-After": "3600"}), ok()]

    started = time.monotonic()
    assert make_session(FAST).get(url).status_code == 200
    assert time.monotonic() - started < 5


def test_attempts_are_bounded_and_the_last_answer_is_returned(server: tuple[str, Script]) -> None:
    url, script = server
    script.steps = [("answer", 503, {"Retry-After": "0"})]

    assert make_session(FAST).get(url).status_code == 503
    assert len(script.seen) == FAST.total_attempts


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_dropped_connection_is_retried(server: tuple[str, Script], method: str) -> None:
    url, script = server
    script.steps = [("drop", 0, {}), ok()]

    assert make_session(FAST).request(method, url, data=b"x" if method == "POST" else None).status_code == 200
    assert len(script.seen) == 2


def test_connections_dropped_every_time_raise_connection_error_after_the_bound(server: tuple[str, Script]) -> None:
    url, script = server
    script.steps = [("drop", 0, {})]

    with pytest.raises(requests.ConnectionError):
        make_session(FAST).get(url)
    assert len(script.seen) == FAST.total_attempts


def test_calls_without_a_timeout_get_the_policys_read_timeout(server: tuple[str, Script]) -> None:
    url, script = server
    script.steps = [("slow", 200, {"seconds": "1"})]
    policy = RetryPolicy(total_attempts=1, read_timeout=0.1, backoff_jitter=0.0)

    started = time.monotonic()
    with pytest.raises((requests.ConnectionError, requests.Timeout)):
        make_session(policy).get(url)
    assert time.monotonic() - started < 0.9


def test_a_refused_connection_raises_connection_error() -> None:
    with pytest.raises(requests.ConnectionError):
        make_session(FAST).get("http://127.0.0.1:9/")


@pytest.mark.parametrize("attempts", [0, -1])
def test_the_policy_refuses_fewer_than_one_attempt(attempts: int) -> None:
    with pytest.raises(ValueError, match="total_attempts"):
        RetryPolicy(total_attempts=attempts)


# -- writes: never resent once they may have reached the server ------------------------------------------------
WRITES = RetryPolicy(total_attempts=4, backoff_factor=0.001, backoff_max=1.0, backoff_jitter=0.0, read_timeout=0.2)


@pytest.mark.parametrize(
    ("step", "error"),
    [(("slow", 200, {"seconds": "0.5"}), requests.ReadTimeout), (("drop", 0, {}), requests.ConnectionError)],
    ids=["outlasts-the-read-timeout", "connection-dropped-after-sending"],
)
def test_a_write_that_may_have_reached_the_server_is_not_resent(
    server: tuple[str, Script], step: tuple[str, int, dict[str, str]], error: type[Exception]
) -> None:
    url, script = server
    script.steps = [step, ok()]

    with pytest.raises(error) as raised:
        make_session(WRITES, resend_after_sending=False).post(url, data=b"x")

    assert len(script.seen) == 1
    assert isinstance(raised.value, requests.RequestException) and may_have_reached(raised.value)


def test_a_read_that_outlasts_the_read_timeout_is_retried(server: tuple[str, Script]) -> None:
    url, script = server
    script.steps = [("slow", 200, {"seconds": "0.5"}), ok()]

    assert make_session(WRITES).post(url, data=b"x").status_code == 200
    assert len(script.seen) == 2


@pytest.mark.parametrize(("status", "attempts"), [(429, 2), (503, 2), (504, 1)])
def test_a_write_is_resent_only_on_statuses_that_say_it_was_not_acted_on(
    server: tuple[str, Script], status: int, attempts: int
) -> None:
    url, script = server
    script.steps = [("answer", status, {}), ok()]

    make_session(WRITES, resend_after_sending=False).post(url, data=b"x")

    assert len(script.seen) == attempts


def test_a_refused_connection_never_reached_the_server() -> None:
    with pytest.raises(requests.ConnectionError) as raised:
        make_session(WRITES, resend_after_sending=False).post("http://127.0.0.1:9/", data=b"x")

    assert not may_have_reached(raised.value)


def test_a_write_session_keeps_the_read_sessions_policy(server: tuple[str, Script]) -> None:
    url, script = server
    script.steps = [("answer", 503, {}), ("answer", 503, {}), ("slow", 200, {"seconds": "0.5"}), ok()]

    with pytest.raises(requests.ReadTimeout):
        write_session_like(make_session(WRITES), "Moodle").post(url, data=b"x")

    assert len(script.seen) == 3


def test_each_retry_is_logged_at_warning_with_the_service_and_its_count(
    server: tuple[str, Script], caplog: pytest.LogCaptureFixture
) -> None:
    url, script = server
    script.steps = [("answer", 503, {}), ("answer", 503, {}), ok()]
    before = RETRIES["BambooHR"]

    with caplog.at_level(logging.WARNING, logger="bamboohr_moodle_sync.http"):
        make_session(FAST, service="BambooHR").get(url)

    assert [r.getMessage() for r in caplog.records] == [
        f"BambooHR request retried after HTTP 503 (retry {n} of at most 3; {before + n} retries so far in this task)"
        for n in (1, 2)
    ]
    assert url not in caplog.text
