"""Small lookups per second against each emulator on loopback: are the emulators ever the bottleneck?

One lookup is what the task and the per-record reference make by the thousand: BambooHR's
``GET /v1/employees/{id}?fields=firstName,lastName`` (Basic auth, ``Accept: application/json``) and Moodle's
``core_user_get_users_by_field`` for one idnumber (a form POST). Each client thread holds one keep-alive
connection and sends its share of the requests one after another; a round is timed from the first request
to the last answer over all threads, and the rate quoted is the median of the rounds.

Two clients, run in the emulators' process as the benchmarks' drains are: a ``requests.Session`` (what the
task uses; ``trust_env`` off, or it reads the whole environment twice a request looking for proxies) and a
bare ``http.client.HTTPConnection``. Client and server share one interpreter lock and two cores, so a rate is
one over the client's cost plus the server's; the ``http.client`` client costs a fraction of ``requests``, so
its figure is the closer one to what the server alone can serve.
"""

from __future__ import annotations

import base64
import http.client
import statistics
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from bench.services import Emulators, emulators

CLIENTS = ("requests", "http.client")


@dataclass(frozen=True)
class Lookup:
    """One emulator's lookup, plain data so that a client process can be handed it."""

    emulator: str  # "bamboohr" or "moodle"
    host: str
    port: int
    path: str  # BambooHR: the API root's path; Moodle: the endpoint's
    secret: str  # BambooHR: the API key; Moodle: the token
    employees: int

    @property
    def method(self) -> str:
        return "GET" if self.emulator == "bamboohr" else "POST"

    def build(self, n: int) -> tuple[str, dict[str, str], bytes | None]:
        """Path with query, headers and body of the ``n``-th lookup (ids and idnumbers cycle)."""
        number = n % self.employees + 1
        if self.emulator == "bamboohr":
            basic = base64.b64encode(f"{self.secret}:x".encode()).decode()
            headers = {"Authorization": f"Basic {basic}", "Accept": "application/json"}
            return f"{self.path}/v1/employees/{number}?fields=firstName,lastName", headers, None
        form = {"wstoken": self.secret, "wsfunction": "core_user_get_users_by_field", "moodlewsrestformat": "json"}
        form |= {"field": "idnumber", "values[0]": f"E{number}"}
        return self.path, {"Content-Type": "application/x-www-form-urlencoded"}, urlencode(form).encode()


def _lookups(services: Emulators, employees: int) -> list[Lookup]:
    bamboo, moodle = urlsplit(services.bamboohr.api_url), urlsplit(services.moodle.endpoint)
    return [
        Lookup("bamboohr", bamboo.hostname or "", bamboo.port or 80, bamboo.path, services.bamboohr.api_key, employees),
        Lookup("moodle", moodle.hostname or "", moodle.port or 80, moodle.path, services.moodle.token, employees),
    ]


def _client_requests(lookup: Lookup, numbers: range, deadline: float) -> int:
    done = 0
    root = f"http://{lookup.host}:{lookup.port}"
    with requests.Session() as session:
        session.trust_env = False  # no proxy, netrc or CA bundle to look up on loopback
        for n in numbers:
            path, headers, body = lookup.build(n)
            answer = session.request(lookup.method, root + path, headers=headers, data=body, timeout=30)
            if answer.status_code != 200 or not answer.content.startswith((b"{", b"[{")):
                raise RuntimeError(f"lookup {n} answered {answer.status_code}: {answer.text[:200]}")
            done += 1
            if time.perf_counter() > deadline:
                break
    return done


def _client_http(lookup: Lookup, numbers: range, deadline: float) -> int:
    done = 0
    connection = http.client.HTTPConnection(lookup.host, lookup.port, timeout=30)
    try:
        for n in numbers:
            path, headers, body = lookup.build(n)
            connection.request(lookup.method, path, body=body, headers=headers)
            answer = connection.getresponse()
            content = answer.read()
            if answer.status != 200 or not content.startswith((b"{", b"[{")):
                raise RuntimeError(f"lookup {n} answered {answer.status}: {content[:200]!r}")
            done += 1
            if time.perf_counter() > deadline:
                break
    finally:
        connection.close()
    return done


def _round(lookup: Lookup, client: str, threads: int, requests_per_round: int, limit_s: float) -> float:
    """Lookups per second over one round: ``requests_per_round`` split over ``threads`` keep-alive clients."""
    run = _client_requests if client == "requests" else _client_http
    share = requests_per_round // threads
    counts = [0] * threads
    errors: list[BaseException] = []
    start = threading.Barrier(threads + 1)

    def worker(index: int) -> None:
        try:
            start.wait()
            counts[index] = run(lookup, range(index * share, (index + 1) * share), time.perf_counter() + limit_s)
        except BaseException as exc:  # reported by the caller
            errors.append(exc)

    workers = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(threads)]
    for w in workers:
        w.start()
    start.wait()
    began = time.perf_counter()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise errors[0]
    return sum(counts) / elapsed


def _rates(
    lookup: Lookup, client: str, threads: int, requests_per_round: int, rounds: int, limit_s: float
) -> list[float]:
    """A warm-up round, then ``rounds`` measured ones."""
    _round(lookup, client, threads, min(requests_per_round, 50 * threads), limit_s)
    return [_round(lookup, client, threads, requests_per_round, limit_s) for _ in range(rounds)]


def measure(
    employees: int, threads: tuple[int, ...], requests_per_round: int, rounds: int, limit_s: float
) -> dict[str, Any]:
    """Lookups per second for each emulator, client and number of client threads (median of ``rounds``).

    The clients run in the emulators' process, as the benchmarks' in-process drains do: they share its
    interpreter lock, so a rate is one over the client's cost plus the server's.
    """
    runs: list[dict[str, Any]] = []
    with emulators(employees) as services:
        for i in range(1, employees + 1):
            services.moodle.emulator.add_user(f"user{i}", idnumber=f"E{i}", email=f"user{i}@example.test")
        for lookup in _lookups(services, employees):
            for client in CLIENTS:
                for count in threads:
                    rates = _rates(lookup, client, count, requests_per_round, rounds, limit_s)
                    runs.append(
                        {
                            "emulator": lookup.emulator,
                            "client": client,
                            "threads": count,
                            "per_s": round(statistics.median(rates)),
                            "rounds_per_s": [round(r) for r in rates],
                        }
                    )
    return {
        "employees": employees,
        "requests_per_round": requests_per_round,
        "rounds": rounds,
        "limit_s": limit_s,
        "runs": runs,
    }


def headline(lookups: dict[str, Any], client: str = "requests") -> tuple[float, str]:
    """The slower emulator's best rate with ``client``: the figure held against the target, and where."""
    best: dict[str, dict[str, Any]] = {}
    for run in lookups["runs"]:
        if run["client"] == client and run["per_s"] > best.get(run["emulator"], {"per_s": -1})["per_s"]:
            best[run["emulator"]] = run
    slowest = min(best.values(), key=lambda r: r["per_s"])
    return slowest["per_s"], f"{slowest['emulator']}, {client}, {slowest['threads']} thread(s)"


def why(measured: dict[str, Any], met: bool) -> str:
    """The targets table's reason for the lookup figure."""
    server, where = headline(measured, "http.client")
    if met:
        return f"keep-alive, one write per answer, indexed Moodle lookups; a bare client gets {server:,}/s ({where})"
    return (
        f"client-bound: `requests` costs more CPU per call than the emulator and shares its lock and two cores; "
        f"a bare `http.client` client gets {server:,}/s from the same emulators ({where})"
    )


def section(measured: dict[str, Any] | None) -> str:
    """BENCHMARKS.md's section: every emulator, client and thread count."""
    if not measured:
        return ""
    lines = [
        "## Emulator lookups per second\n",
        f"Small lookups on loopback over keep-alive connections, {measured['employees']:,} employees seeded, "
        f"{measured['requests_per_round']:,} requests a round split over the client threads, median of "
        f"{measured['rounds']} rounds after a warm-up (`bench/lookups.py`). BambooHR: `GET /v1/employees/{{id}}"
        "?fields=firstName,lastName`; Moodle: `core_user_get_users_by_field` for one idnumber. The clients run "
        "in the emulators' process, as the drains do, so each rate is one over the client's cost plus the "
        "server's; the `http.client` rows are the nearer to the server's own capacity.\n",
        "| emulator | client | threads | lookups/s | rounds |",
        "|---|---|---|---|---|",
    ]
    for run in measured["runs"]:
        rounds = ", ".join(f"{r:,}" for r in run["rounds_per_s"])
        lines.append(f"| {run['emulator']} | {run['client']} | {run['threads']} | {run['per_s']:,} | {rounds} |")
    return "\n".join(lines) + "\n"
