"""Peak RSS of the batch task as a process: ``python -m bamboohr_moodle_sync.cli batch`` at the default size.

The task reaches the emulators and a moto server (``ThreadedMotoServer`` on 127.0.0.1, ``AWS_ENDPOINT_URL``)
exactly as a container would reach its services. The first batch of a window freezes the whole change
list (and counts the window for the mass-suspension guard); a later batch reads one snapshot chunk.
The peak is the kernel's high-water mark of the task's own address space (``VmHWM``, read by the task
process as it ends), cross-checked by polling its RSS. ``ru_maxrss`` is no use here: Linux carries the
parent's resident size at fork over into the child's figure, and this parent holds moto (about 200 MB).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from typing import Any

import psutil

from bench.services import Emulators, create_table, emulators

DEFAULT_BATCH_SIZE = 200
POLL_S = 0.005
REPORT_HWM = (
    "print('VmHWM', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')), file=sys.stderr)"
)
BATCH = f"import sys\nfrom bamboohr_moodle_sync.cli import main\ncode = main(['batch'])\n{REPORT_HWM}\nsys.exit(code)"
IDLE = (
    f"import sys, boto3, bamboohr_moodle_sync.wiring\nboto3.client('dynamodb', region_name='us-east-1')\n{REPORT_HWM}"
)


def measure(employees: int, batch_size: int = DEFAULT_BATCH_SIZE, later_batch: int = 2) -> dict[str, Any]:
    """Seed ``employees``, run batch 1 (the freeze) and batches up to ``later_batch``; the peaks of 1 and the last."""
    from bamboohr_moodle_sync.local.aws.fargate import aws_environment
    from bamboohr_moodle_sync.local.aws.motoserver import running_moto

    seeded = time.perf_counter()
    with running_moto() as local, emulators(employees) as services:
        seed_s = time.perf_counter() - seeded
        local.reset()  # moto's backends outlive a server in this process
        create_table(local.client("dynamodb"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "MOTO_PORT"}
        env |= aws_environment(local.endpoint_url, local.region) | services.task_env(batch_size)
        runs = [_run_batch(env, services) for _ in range(later_batch)]
    first, later = runs[0], runs[-1]
    return {
        "employees": employees,
        "batch_size": batch_size,
        "seed_s": round(seed_s, 2),
        "first_batch": first,
        "later_batch": later | {"number": later_batch},
        "peak_mb": max(first["peak_mb"], later["peak_mb"]),
    }


def baseline_mb() -> float:
    """Peak RSS of the interpreter importing the task and doing nothing: the floor under every batch."""
    peak, _ = _peak([sys.executable, "-c", IDLE], dict(os.environ))
    return round(peak, 1)


def _run_batch(env: dict[str, str], services: Emulators) -> dict[str, Any]:
    bamboohr_before, moodle_before = services.requests()
    started = time.perf_counter()
    peak, polled = _peak([sys.executable, "-c", BATCH], env)
    wall_s = time.perf_counter() - started
    bamboohr_after, moodle_after = services.requests()
    return {
        "peak_mb": round(peak, 1),
        "polled_peak_mb": round(polled, 1),
        "wall_s": round(wall_s, 2),
        "bamboohr_requests": bamboohr_after - bamboohr_before,
        "moodle_requests": moodle_after - moodle_before,
    }


def _peak(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Runs ``command``; answers (its VmHWM at exit, highest polled RSS) in MB. Fails on a non-zero exit."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    polled = [0.0]
    done = threading.Event()

    def poll() -> None:
        watched = psutil.Process(process.pid)
        while not done.is_set():
            try:
                polled[0] = max(polled[0], watched.memory_info().rss / 2**20)
            except psutil.Error:
                return
            time.sleep(POLL_S)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    stderr = process.stderr.read() if process.stderr else b""
    returncode = process.wait()
    done.set()
    poller.join()
    text = stderr.decode(errors="replace")
    hwm = [line.split()[1] for line in text.splitlines() if line.startswith("VmHWM ")]
    if returncode != 0 or not hwm:
        raise RuntimeError(f"batch exited {returncode}: {text[-500:]}")
    return int(hwm[-1]) / 1024, polled[0]
