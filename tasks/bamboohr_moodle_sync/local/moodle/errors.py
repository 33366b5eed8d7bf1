"""Moodle's exceptions as the emulated web-service functions raise them."""

from __future__ import annotations


class MoodleError(Exception):
    """An exception as Moodle serialises it: class, errorcode, message and (debugging only) debuginfo."""

    def __init__(self, exception: str, errorcode: str, message: str, debuginfo: str | None = None):
        super().__init__(f"{errorcode}: {message}")
        self.exception, self.errorcode, self.message, self.debuginfo = exception, errorcode, message, debuginfo


def invalid(debuginfo: str) -> MoodleError:
    return MoodleError(
        "core\\exception\\invalid_parameter_exception",
        "invalidparameter",
        "Invalid parameter value detected",
        debuginfo,
    )


def missing(table: str) -> MoodleError:
    return MoodleError(
        "dml_missing_record_exception", "invalidrecord", f"Can't find data record in database table {table}."
    )
