"""A small threaded HTTP server that the BambooHR and Moodle emulators run on.

An emulator is a plain function ``Request -> Response``; this module owns the socket, keep-alive,
the request log and the faults that tests switch on (error answers with ``Retry-After``, dropped
connections, latency, outages). Only loopback addresses are served.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Message
    body: bytes

    def query_value(self, name: str) -> str | None:
        """The last value of a query parameter, as PHP and most frameworks resolve repeats."""
        found = None
        for key, value in self.query:
            if key == name:
                found = value
        return found


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, text: str, content_type: str = "text/plain; charset=utf-8") -> Response:
        return cls(status, text.encode("utf-8"), {"Content-Type": content_type})


Handler = Callable[[Request], Response]


@dataclass
class Faults:
    """Misbehaviour on demand. Rates are fractions of requests; requests are numbered from 1."""

    error_rate: float = 0.0
    error_status: int = 503
    retry_after: int | None = 1
    drop_rate: float = 0.0
    latency_s: float = 0.0
    latency_jitter_s: float = 0.0
    down_from_request: int | None = None
    down_until_request: int | None = None
    mail_delay_s: float = 0.0
    """Moodle only: seconds each new user's password mail costs inside ``core_user_create_users``."""
    seed: int = 0
    _random: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def clear(self) -> None:
        self.error_rate = self.drop_rate = self.latency_s = self.latency_jitter_s = self.mail_delay_s = 0.0
        self.down_from_request = self.down_until_request = None

    def decide(self, number: int) -> str | None:
        """``"error"``, ``"drop"`` or None for request ``number``."""
        down_from, down_until = self.down_from_request, self.down_until_request
        if down_from is not None and number >= down_from and (down_until is None or number < down_until):
            return "error"
        roll = self._random.random()
        if roll < self.drop_rate:
            return "drop"
        if roll < self.drop_rate + self.error_rate:
            return "error"
        return None

    def delay(self) -> float:
        return self.latency_s + (self._random.uniform(0, self.latency_jitter_s) if self.latency_jitter_s else 0.0)


@dataclass(frozen=True)
class LoggedRequest:
    number: int
    method: str
    path: str
    status: int | None  # None: the connection was dropped


class EmulatorServer:
    """Serves ``handler`` on 127.0.0.1 at a free port until stopped; usable as a context manager."""

    def __init__(self, handler: Handler, faults: Faults | None = None, host: str = "127.0.0.1", port: int = 0):
        self.handler = handler
        self.faults = faults or Faults()
        self.requests: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._count = 0
        self._httpd = ThreadingHTTPServer((host, port), _make_request_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def request_count(self) -> int:
        return self._count

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.05,), name=f"emulator{self.url}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next_number(self) -> int:
        with self._lock:
            self._count += 1
            return self._count

    def _log(self, entry: LoggedRequest) -> None:
        with self._lock:
            self.requests.append(entry)


def _make_request_handler(server: EmulatorServer) -> type[BaseHTTPRequestHandler]:
    class _RequestHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as real clients use it
        disable_nagle_algorithm = True  # stdlib error answers (send_error) still go out in two writes

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            pass

        def _serve(self) -> None:
            number = server._next_number()
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            delay = server.faults.delay()
            if delay:
                time.sleep(delay)
            fault = server.faults.decide(number)
            if fault == "drop":
                server._log(LoggedRequest(number, self.command, split.path, None))
                self.close_connection = True
                self.connection.close()
                return
            if fault == "error":
                response = _fault_response(server.faults)
            else:
                request = Request(
                    self.command, split.path, parse_qsl(split.query, keep_blank_values=True), self.headers, body
                )
                try:
                    response = server.handler(request)
                except Exception as exc:  # an emulator bug must show up as a 500, not a hung client
                    response = Response.text(500, f"emulator error: {type(exc).__name__}: {exc}")
            server._log(LoggedRequest(number, self.command, split.path, response.status))
            try:
                self._send(response)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting; the work is done
                self.close_connection = True

        def _send(self, response: Response) -> None:
            """Status line, headers and body in one ``sendall``: one segment for a small answer, no waits."""
            phrase = self.responses.get(response.status, ("",))[0]
            head = [f"{self.protocol_version} {response.status} {phrase}", f"Server: {self.version_string()}"]
            if "Date" not in response.headers:  # an emulator with a clock of its own sends its own Date
                head.append(f"Date: {self.date_time_string()}")
            head += [f"{name}: {value}" for name, value in response.headers.items()]
            head.append(f"Content-Length: {len(response.body)}")
            self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + response.body)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

    return _RequestHandler


def _fault_response(faults: Faults) -> Response:
    headers: Mapping[str, str] = {"Retry-After": str(faults.retry_after)} if faults.retry_after is not None else {}
    response = Response.text(
        faults.error_status, "Service Unavailable" if faults.error_status == 503 else "Too Many Requests"
    )
    response.headers.update(headers)
    return response
