"""``bamboohr-moodle-sync emulate``: both emulators and a local state table on loopback until Ctrl-C or SIGTERM.

It prints every setting the batch task needs as shell lines, so a user can paste them and run
``bamboohr-moodle-sync batch`` against the emulators; the state table lives in a local moto server.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack

from .bamboohr_emulator import running_bamboohr
from .moodle_emulator import running_moodle
from .motoserver import running_moto

STATE_TABLE = "bamboohr-moodle-sync-state"


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="bamboohr-moodle-sync emulate", description=__doc__.splitlines()[0])
    parser.add_argument("--employees", type=int, default=50, help="generated BambooHR employees (default 50)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the employee generator")
    args = parser.parse_args(argv)
    if args.employees < 0:
        parser.error("--employees must be 0 or more")

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with ExitStack() as stack:
        bamboohr = stack.enter_context(running_bamboohr(employees=args.employees, seed=args.seed))
        moodle = stack.enter_context(running_moodle())
        local_aws = stack.enter_context(running_moto())
        local_aws.client("dynamodb").create_table(
            TableName=STATE_TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        exports = {
            "BAMBOOHR_API_URL": bamboohr.api_url,
            "BAMBOOHR_API_KEY": bamboohr.api_key,
            "MOODLE_URL": moodle.url,
            "MOODLE_TOKEN": moodle.token,
            "STATE_TABLE": STATE_TABLE,
            "AWS_ENDPOINT_URL": local_aws.endpoint_url,
            "AWS_REGION": local_aws.region,
            "AWS_ACCESS_KEY_ID": "testing",  # moto accepts any credentials
            "AWS_SECRET_ACCESS_KEY": "testing",
        }
        for name, value in exports.items():
            print(f"export {name}={shlex.quote(value)}")
        print(
            f"# BambooHR: {args.employees} employees. Paste the lines above into another shell, then run "
            "`bamboohr-moodle-sync batch` once per batch. Ctrl-C stops.",
            file=sys.stderr,
        )
        sys.stdout.flush()
        stop.wait()
    return 0
