"""``GET /health``: Postgres, Redis, S3 and the queue, plus the scorer's model card."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from realtone_api.deps import ServicesDep
from realtone_api.schemas import HealthOut
from realtone_core.scorer_card import MODEL_CARD_KEY
from realtone_core.sqs import check_queue

router = APIRouter(tags=["health"])
logger = Logger(service="realtone-api", child=True)


def _run(name: str, check: Callable[[], object]) -> str:
    """``ok`` or ``unavailable``: the reason (exception text naming hosts, ports, buckets)
    goes to the log only, since /health answers anyone."""
    try:
        check()
    except Exception as exc:
        logger.warning("health check failed", extra={"check": name, "error": repr(exc)[:500]})
        return "unavailable"
    return "ok"


@router.get(
    "/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "A dependency is down"}},
)
def health(services: ServicesDep) -> JSONResponse:
    queue_url = services.settings.queue_url
    checks = {
        "postgres": _run("postgres", services.db.ping),
        "redis": _run("redis", services.cache.ping),
        "s3": _run("s3", services.objects.check),
        "queue": _run("queue", lambda: check_queue(services.sqs, queue_url)),
    }
    # The card of the scorer that started last; none yet when no scorer has started.
    model: Any = services.cache.get_json(MODEL_CARD_KEY) or {"loaded": False}
    failed = sorted(name for name, result in checks.items() if result != "ok")
    # Redis only caches: without it the API still answers (from Postgres), so it degrades.
    if not failed:
        state, code = "ok", 200
    elif failed == ["redis"]:
        state, code = "degraded", 200
    else:
        state, code = "unavailable", 503
    body: dict[str, Any] = {"status": state, "checks": checks, "model": model}
    if failed:
        body["failed"] = failed
    return JSONResponse(body, status_code=code)
