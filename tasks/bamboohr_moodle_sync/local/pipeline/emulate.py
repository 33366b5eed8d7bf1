"""``bamboohr-moodle-sync emulate``: both emulators and a local state table on loopback until Ctrl-C or SIGTERM.

It prints every setting the batch task needs as shell lines, so a user can paste them and run
``bamboohr-moodle-sync batch`` against the emulators, and ``bamboohr-moodle-sync world ...`` to change them;
the state table lives in a local moto server. BambooHR's clock moves as time passes; the generated
employees were entered a day earlier, so a drained window is settled at once (``ChangeList.next_since``).
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta

from bamboohr_moodle_sync.local.aws.motoserver import running_moto
from bamboohr_moodle_sync.local.bamboohr.emulator import RunningClock, running_bamboohr
from bamboohr_moodle_sync.local.moodle.emulator import running_moodle
from bamboohr_moodle_sync.local.pipeline.world_admin import bamboohr_admin, moodle_admin, with_admin

STATE_TABLE = "bamboohr-moodle-sync-state"
SEEDED_AGO = timedelta(days=1)


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
        clock = RunningClock(datetime.now(UTC) - SEEDED_AGO)
        bamboohr = stack.enter_context(running_bamboohr(employees=args.employees, seed=args.seed, clock=clock))
        clock.advance(SEEDED_AGO.total_seconds())
        bamboohr.server.handler = with_admin(bamboohr.emulator, bamboohr_admin(bamboohr.emulator))
        moodle = stack.enter_context(running_moodle())
        moodle.server.handler = with_admin(moodle.emulator, moodle_admin(moodle.emulator))
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
            "`.venv/bin/bamboohr-moodle-sync batch` once per batch until it says nothing changed, and "
            "`.venv/bin/bamboohr-moodle-sync world --help` to change the world. Ctrl-C stops.",
            file=sys.stderr,
        )
        sys.stdout.flush()
        stop.wait()
    return 0
