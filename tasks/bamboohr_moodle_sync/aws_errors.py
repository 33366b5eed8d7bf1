"""AWS errors that no rerun can fix, as the ``ConfigError`` (exit 2) that says which setting or permission to fix.

    NoRegionError                 no region configured            -> set AWS_REGION
    NoCredentialsError            no credentials found            -> the task role (or a profile by hand)
    ResourceNotFoundException     the named table or secret is not in this account and region
    AccessDenied(Exception)       the caller's policies do not allow the call; AWS's message (principal, action,
                                  resource) is kept whole: it holds no secret
    UnrecognizedClientException   credentials AWS does not know (or ExpiredToken, InvalidClientTokenId)

Anything else (throttling, a service error, a lost connection) is left to the caller: it is worth a rerun.
"""

from __future__ import annotations

from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

from .errors import ConfigError

REGION_HINT = "no AWS region: set AWS_REGION (Fargate sets it for the task) or AWS_DEFAULT_REGION"
_BAD_CREDENTIALS = frozenset({"UnrecognizedClientException", "InvalidClientTokenId", "ExpiredTokenException"})


def config_error(exc: Exception, what: str, region: str | None = None) -> ConfigError | None:
    """``exc`` as a ``ConfigError`` about ``what`` (e.g. ``STATE_TABLE=sync-state``), or None if a rerun may help."""
    if isinstance(exc, NoRegionError):
        return ConfigError(REGION_HINT)
    if isinstance(exc, NoCredentialsError):
        return ConfigError(f"{what}: no AWS credentials found; the task needs its task role (or a profile by hand)")
    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    code, message = str(error.get("Code", "")), str(error.get("Message", "")).strip()
    where = f" in region {region}" if region else ""
    if code == "ResourceNotFoundException":
        return ConfigError(f"{what} does not exist{where} ({message}); set it to an existing one")
    if code in ("AccessDeniedException", "AccessDenied"):
        return ConfigError(f"{what}: access denied ({message}); allow that action on that resource in the task role")
    if code in _BAD_CREDENTIALS:
        return ConfigError(f"{what}: AWS refused the credentials ({code}: {message})")
    return None
