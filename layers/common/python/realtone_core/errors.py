"""Errors that carry a contract error code (``{"error": {"code", "message"}}``)."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    VALIDATION_ERROR = "validation_error"
    EMAIL_TAKEN = "email_taken"
    INVALID_CREDENTIALS = "invalid_credentials"
    INVALID_TOKEN = "invalid_token"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    UNSUPPORTED_FORMAT = "unsupported_format"
    UNSUPPORTED_SAMPLE_RATE = "unsupported_sample_rate"
    CORRUPT_AUDIO = "corrupt_audio"
    EMPTY_AUDIO = "empty_audio"
    TOO_SHORT = "too_short"
    TOO_LONG = "too_long"
    TOO_LARGE = "too_large"
    UPLOAD_MISSING = "upload_missing"
    AUDIO_REPLACED = "audio_replaced"
    AUDIO_DELETED = "audio_deleted"
    QUOTA_EXCEEDED = "quota_exceeded"
    NOT_AUDIO = "not_audio"
    UPLOAD_CLOSED = "upload_closed"
    RATE_LIMITED = "rate_limited"
    SERVICE_UNAVAILABLE = "service_unavailable"
    # Webhooks (realtone_core.webhooks).
    INVALID_WEBHOOK_URL = "invalid_webhook_url"
    UNSAFE_WEBHOOK_URL = "unsafe_webhook_url"
    # Voices (realtone_core.voices).
    ANALYSIS_NOT_COMPLETED = "analysis_not_completed"
    UNKNOWN_SPEAKER = "unknown_speaker"
    VOICE_LIMIT_REACHED = "voice_limit_reached"
    INTERNAL_ERROR = "internal_error"


class RealToneError(Exception):
    """An error a caller can act on; ``code`` goes to clients as is."""

    status_code = 400

    def __init__(self, code: ErrorCode, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class RateLimitedError(RealToneError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(ErrorCode.RATE_LIMITED, message)
        self.retry_after = retry_after


class AudioError(RealToneError):
    """The uploaded audio cannot be scored; the analysis ends ``failed`` with ``code``."""

    status_code = 422


class EmailTakenError(RealToneError):
    status_code = 409

    def __init__(self) -> None:
        super().__init__(ErrorCode.EMAIL_TAKEN, "An account with this email already exists")


class AccountGoneError(RealToneError):
    """The token's account was deleted (its token is refused like any invalid one)."""

    status_code = 401

    def __init__(self) -> None:
        super().__init__(ErrorCode.INVALID_TOKEN, "The account for this token no longer exists")


class InFlightLimitReached(Exception):
    """The owner already has the most analyses awaiting upload, queued or processing."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} analyses in flight")
        self.limit = limit
