"""One local AWS for everyone: moto's ThreadedMotoServer on 127.0.0.1 at a free port, state machines executed.

The Step Functions interpreter runs inside this process (moto's server thread starts the executions); its
own boto clients reach the server through ``MOTO_PORT``, the task subprocesses through ``AWS_ENDPOINT_URL``,
and the runner and tests through ``session()``. All of them therefore share one backend.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
import requests

from bamboohr_moodle_sync.local.aws import interpreter, stack


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class LocalAws:
    endpoint_url: str
    region: str = stack.REGION

    def session(self) -> boto3.Session:
        # moto accepts any credentials; these are fake.
        return boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=self.region)  # noqa: S106

    def client(self, service: str) -> Any:
        return self.session().client(service, endpoint_url=self.endpoint_url)  # type: ignore[call-overload]

    def reset(self) -> None:
        """Drops every resource (moto's own reset endpoint)."""
        requests.post(f"{self.endpoint_url}/moto-api/reset", timeout=10).raise_for_status()


@contextmanager
def running_moto() -> Iterator[LocalAws]:
    """Starts the server with the project's interpreter patches; stops it and restores ``MOTO_PORT`` after."""
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    interpreter.install()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per AWS call otherwise
    logging.getLogger("moto.stepfunctions").setLevel(logging.CRITICAL)  # state failures are in the history
    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    previous = {name: os.environ.get(name) for name in ("MOTO_PORT", "AWS_ENDPOINT_URL")}
    os.environ["MOTO_PORT"] = str(port)  # where the interpreter's own clients connect (localhost:MOTO_PORT)
    os.environ.pop("AWS_ENDPOINT_URL", None)  # sessions name the endpoint explicitly
    try:
        yield LocalAws(endpoint_url=f"http://127.0.0.1:{port}")
    finally:
        server.stop()
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
