"""Lambda entry point for the SQS event source (``realtone_scorer.handler.lambda_handler``).

Partial batch failures: a message that failed is reported back and retried alone; the rest
of the batch is deleted. The queue's redrive policy moves a message that keeps failing to
the DLQ.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtone_scorer.app import get_scorer
from realtone_scorer.events import S3Notification

logger = Logger(service="realtone-scorer")
metrics = Metrics(namespace="RealTone", service="realtone-scorer")
processor = BatchProcessor(event_type=EventType.SQS)

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # Load the model during the init phase, once per container, never per message.
    get_scorer()


def record_handler(record: SQSRecord) -> None:
    notification = S3Notification.model_validate_json(record.body)
    if notification.is_test_event:
        logger.info("ignoring s3:TestEvent")
        metrics.add_metric(name="IgnoredTestEvents", unit=MetricUnit.Count, value=1)
        return
    receive_count = int(record.attributes.approximate_receive_count or 1)
    scorer = get_scorer()
    for s3_record in notification.records:
        if not s3_record.is_object_created:
            continue
        outcome = scorer.process_upload(s3_record.key, receive_count=receive_count)
        metrics.add_metric(name=f"Analyses{outcome.value.title()}", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
