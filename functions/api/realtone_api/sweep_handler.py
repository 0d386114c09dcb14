"""Scheduled function (every few minutes) running the sweep on AWS; locally the worker runs it."""

from __future__ import annotations

from dataclasses import asdict
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtone_core.config import SweepSettings
from realtone_core.services import Services
from realtone_core.sweep import run_sweep

logger = Logger(service="realtone-sweep")


@lru_cache(maxsize=1)
def _services() -> tuple[Services, str]:
    settings = SweepSettings.load()
    return Services.from_settings(settings), settings.queue_url


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    services, queue_url = _services()
    report = asdict(run_sweep(services, queue_url))
    logger.info("sweep done", extra={k: len(v) for k, v in report.items()})
    return report
