"""Structured logs: JSON lines on stdout through aws-lambda-powertools' Logger (it works outside Lambda).

Nothing secret is ever passed to the logger: credentials live only in the clients' sessions.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

from aws_lambda_powertools import Logger
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers


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
    """Send the clients' standard-library loggers through the same JSON handler and keys."""
    copy_config_to_registered_loggers(
        source_logger=logger,
        include={"bamboohr_moodle_sync.bamboohr", "bamboohr_moodle_sync.moodle", "bamboohr_moodle_sync.http"},
    )
