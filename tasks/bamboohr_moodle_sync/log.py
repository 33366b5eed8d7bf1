"""Structured logs: JSON lines through aws-lambda-powertools' Logger, which works outside Lambda too.

Nothing secret is ever passed to the logger: credentials live only in the clients' sessions.
"""

from __future__ import annotations

import logging
import os

from aws_lambda_powertools import Logger

logger = Logger(service="bamboohr-moodle-sync", level=os.environ.get("LOG_LEVEL", "INFO"))

# urllib3 logs each retry with the URL; keep it, but never at DEBUG (which would dump headers).
logging.getLogger("urllib3").setLevel(logging.WARNING)
