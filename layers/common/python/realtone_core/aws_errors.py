"""Telling an AWS error that retrying may cure from one that only an operator can fix."""

from __future__ import annotations

from enum import StrEnum

from botocore.exceptions import BotoCoreError, ClientError

# The deployment is wrong (a missing grant, a bucket or queue that is not there, bad keys):
# every retry fails the same way until someone changes the configuration.
CONFIGURATION_CODES = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "AllAccessDisabled",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "NoSuchBucket",
        "AWS.SimpleQueueService.NonExistentQueue",
        "QueueDoesNotExist",
        "KMS.AccessDeniedException",
    }
)
# The service is busy or briefly away: worth a retry after a pause.
TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)


class AwsFailure(StrEnum):
    CONFIGURATION = "configuration"
    TRANSIENT = "transient"
    OTHER = "other"


def classify(exc: BaseException) -> AwsFailure:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in CONFIGURATION_CODES:
            return AwsFailure.CONFIGURATION
        if code in TRANSIENT_CODES or status >= 500 or status == 429:
            return AwsFailure.TRANSIENT
        return AwsFailure.OTHER
    if isinstance(exc, BotoCoreError):
        # Connection failures, timeouts, endpoint errors: the network or the service.
        return AwsFailure.TRANSIENT
    return AwsFailure.OTHER


def error_code(exc: BaseException) -> str | None:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "")) or None
    return None
