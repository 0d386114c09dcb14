"""Every error leaves the API as ``{"error": {"code", "message"}}``, 404s and 422s included."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from realtone_core.errors import ErrorCode, RateLimitedError, RealToneError

logger = Logger(service="realtone-api", child=True)

_STATUS_CODES = {
    400: ErrorCode.VALIDATION_ERROR,
    401: ErrorCode.INVALID_TOKEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
    429: ErrorCode.RATE_LIMITED,
    415: ErrorCode.UNSUPPORTED_FORMAT,
    422: ErrorCode.VALIDATION_ERROR,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    headers = dict(headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        parts.append(f"{where}: {err.get('msg')}" if where else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RealToneError)
    async def _realtone(_: Request, exc: RealToneError) -> JSONResponse:
        headers = (
            {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimitedError) else None
        )
        return error_response(exc.status_code, exc.code, exc.message, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, ErrorCode.VALIDATION_ERROR, _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, ErrorCode.INTERNAL_ERROR)
        return error_response(exc.status_code, code, str(exc.detail), dict(exc.headers or {}))

    install_dependency_handlers(app)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error")
        return error_response(500, ErrorCode.INTERNAL_ERROR, "Internal server error")


def install_dependency_handlers(app: FastAPI) -> None:
    """A dead database, or AWS throttling or timing out, is a 503 with Retry-After; an AWS
    error that is configuration (no access, no such bucket or queue) is a 500 whose log names
    the resource, since retrying cannot cure it."""
    import psycopg
    from botocore.exceptions import BotoCoreError, ClientError
    from psycopg_pool import PoolTimeout

    from realtone_core.aws_errors import AwsFailure, classify, error_code

    def unavailable(exc: Exception) -> JSONResponse:
        logger.warning("dependency unavailable", extra={"error": repr(exc)})
        return error_response(
            503,
            ErrorCode.SERVICE_UNAVAILABLE,
            "A backing service is unavailable; try again shortly",
            {"Retry-After": "5"},
        )

    async def _database(_: Request, exc: Exception) -> JSONResponse:
        return unavailable(exc)

    async def _aws(request: Request, exc: Exception) -> JSONResponse:
        failure = classify(exc)
        if failure == AwsFailure.TRANSIENT:
            return unavailable(exc)
        settings = getattr(request.app.state, "settings", None)
        logger.error(
            "AWS refused a call: the deployment's configuration is wrong"
            if failure == AwsFailure.CONFIGURATION
            else "AWS call failed",
            extra={
                "aws_error": error_code(exc),
                # S3 names the bucket in its error; SQS names the queue in the message.
                "aws_error_detail": getattr(exc, "response", {}).get("Error"),
                "operation": getattr(exc, "operation_name", None),
                "bucket": getattr(settings, "bucket", None),
                "queue_url": getattr(settings, "queue_url", None),
                "error": str(exc),
            },
        )
        return error_response(
            500, ErrorCode.INTERNAL_ERROR, "The service cannot reach its storage or queue"
        )

    for exc_type in (psycopg.OperationalError, PoolTimeout):
        app.add_exception_handler(exc_type, _database)
    for exc_type in (BotoCoreError, ClientError):
        app.add_exception_handler(exc_type, _aws)
