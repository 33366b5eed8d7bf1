"""Structured logs: JSON lines on stdout through aws-lambda-powertools' Logger (it works outside Lambda).

Nothing secret is ever passed to the logger: credentials live only in the clients' sessions.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from aws_lambda_powertools import Logger


class _CurrentStdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stdout`` is at the time of each record, not at import."""

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


logger = Logger(
    service="bamboohr-moodle-sync",
    level=os.environ.get("LOG_LEVEL", "INFO"),
    logger_handler=_CurrentStdoutHandler(),
)

# urllib3 logs each retry with its URL; never at DEBUG, which would dump request details.
logging.getLogger("urllib3").setLevel(logging.WARNING)


def route_module_loggers() -> None:
    """Send the package's standard-library loggers (the clients', the transport's) through the same JSON handler
    and keys. powertools' ``copy_config_to_registered_loggers`` only reconfigures top-level loggers and cuts
    their propagation, so the package logger gets the handler here and its records still reach the root."""
    package = logging.getLogger(__name__.rpartition(".")[0])
    package.setLevel(logger.log_level)
    for handler in logger.handlers:
        if handler not in package.handlers:
            package.addHandler(handler)
