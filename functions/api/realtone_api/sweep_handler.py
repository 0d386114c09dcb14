"""Scheduled function (every few minutes) running the sweep on AWS; locally the worker runs it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtone_api.deps import get_services
from realtone_core.sweep import run_sweep

logger = Logger(service="realtone-sweep")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = asdict(run_sweep(get_services()))
    logger.info("sweep done", extra={k: len(v) for k, v in report.items()})
    return report
