"""``bamboohr-moodle-sync world``: change the offline world by hand while ``emulate`` runs.

Each subcommand is one call to the running emulators' admin endpoints (``world_admin``), found through the
settings ``emulate`` printed (``BAMBOOHR_API_URL``, ``MOODLE_URL``): paste its export lines first.

  hire FIELD=VALUE...                 a new employee (firstName and lastName at least); prints the id
  edit ID FIELD=VALUE...              change fields (``FIELD=`` empties one); lastChanged moves to now
  terminate ID [--date YYYY-MM-DD]    Inactive with a terminationDate (today by default)
  rehire ID [--date YYYY-MM-DD]       Active again, hireDate set, terminationDate cleared
  show ID                             one employee's fields, as BambooHR holds them
  moodle-account USERNAME email=... firstname=... lastname=... [FIELD=VALUE...]
                                      a Moodle account made by hand, as the admin UI makes one
  clock [--advance SECONDS | --advance-days DAYS]
                                      BambooHR's clock (it moves as time passes); --advance jumps it, e.g.
                                      to a future hire's due day (the sync's "today" is BambooHR's day)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests

from bamboohr_moodle_sync.local.bamboohr.emulator import EDITABLE_FIELDS
from bamboohr_moodle_sync.local.pipeline.world_admin import PREFIX

EXIT_REFUSED, EXIT_CONFIG = 1, 2


class WorldError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bamboohr-moodle-sync world",
        description="Change the offline world by hand while `emulate` runs (paste the export lines it printed first).",
        epilog="Employee fields: " + ", ".join(sorted(EDITABLE_FIELDS)),
    )
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    hire = commands.add_parser("hire", help="hire a new employee; prints the new id")
    hire.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    edit = commands.add_parser("edit", help="change an employee's fields")
    edit.add_argument("id")
    edit.add_argument("fields", nargs="+", metavar="FIELD=VALUE")
    for name, what in (("terminate", "termination"), ("rehire", "hire")):
        sub = commands.add_parser(name, help=f"{name} an employee ({what} date today unless --date)")
        sub.add_argument("id")
        sub.add_argument("--date", metavar="YYYY-MM-DD")
    show = commands.add_parser("show", help="print one employee's fields")
    show.add_argument("id")
    account = commands.add_parser("moodle-account", help="make a Moodle account by hand")
    account.add_argument("username")
    account.add_argument("fields", nargs="+", metavar="FIELD=VALUE", help="email, firstname, lastname, ...")
    clock = commands.add_parser("clock", help="print BambooHR's clock; --advance or --advance-days moves it forward")
    jump = clock.add_mutually_exclusive_group()
    jump.add_argument("--advance", type=float, metavar="SECONDS")
    jump.add_argument("--advance-days", type=float, metavar="DAYS")
    return parser


def parse_fields(pairs: Sequence[str]) -> dict[str, str | None]:
    """``["a=1", "b="]`` -> ``{"a": "1", "b": None}``: an empty value empties the field."""
    fields: dict[str, str | None] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise WorldError(EXIT_CONFIG, f"{pair!r} is not FIELD=VALUE")
        fields[name] = value or None
    return fields


def admin_root(variable: str) -> str:
    """The emulator server's ``/_emulator/`` URL, from the setting ``emulate`` printed for it."""
    url = os.environ.get(variable)
    if not url:
        raise WorldError(EXIT_CONFIG, f"{variable} is not set: paste the export lines `emulate` printed first")
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{PREFIX}"


def call(variable: str, method: str, route: str, body: dict[str, Any] | None = None) -> Any:
    url = admin_root(variable) + route
    try:
        response = requests.request(method, url, json=body, timeout=10)
    except requests.RequestException as exc:
        message = f"no emulator answers at {url} ({type(exc).__name__}): is `emulate` running?"
        raise WorldError(EXIT_CONFIG, message) from exc
    try:
        answer = response.json()
    except ValueError:
        raise WorldError(EXIT_CONFIG, f"{url} answered HTTP {response.status_code}, not an emulator") from None
    if not response.ok:
        raise WorldError(EXIT_REFUSED, str(answer.get("error") if isinstance(answer, dict) else answer))
    return answer


def run(args: argparse.Namespace) -> str:
    """Does the action; answers the line to print."""
    bamboohr = "BAMBOOHR_API_URL"
    if args.action == "hire":
        hired = call(bamboohr, "POST", "employees", parse_fields(args.fields))
        return f"hired employee {hired['id']}"
    if args.action == "edit":
        employee = call(bamboohr, "POST", f"employees/{args.id}", parse_fields(args.fields))
        return f"employee {args.id} edited, lastChanged {employee['lastChanged']}"
    if args.action in ("terminate", "rehire"):
        body = {"date": args.date} if args.date else {}
        employee = call(bamboohr, "POST", f"employees/{args.id}/{args.action}", body)
        return f"employee {args.id} {args.action}d: status {employee['status']}, lastChanged {employee['lastChanged']}"
    if args.action == "show":
        return json.dumps(call(bamboohr, "GET", f"employees/{args.id}"), indent=2, ensure_ascii=False)
    if args.action == "moodle-account":
        created = call("MOODLE_URL", "POST", "users", {"username": args.username, **parse_fields(args.fields)})
        return f"Moodle account {created['id']} ({args.username}) made by hand"
    advance = args.advance if args.advance_days is None else args.advance_days * 86_400
    if advance is not None:
        return f"BambooHR's clock: {call(bamboohr, 'POST', 'clock', {'advance': advance})['now']}"
    return f"BambooHR's clock: {call(bamboohr, 'GET', 'clock')['now']}"


def main(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(list(argv))
    try:
        print(run(args))
    except WorldError as exc:
        print(f"bamboohr-moodle-sync world {args.action}: {exc}", file=sys.stderr)
        return exc.code
    return 0
