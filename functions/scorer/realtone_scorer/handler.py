"""Lambda entry point for the SQS event source (``realtone_scorer.handler.lambda_handler``).

Partial batch failures: a message that failed is reported back and retried alone; the rest
of the batch is deleted. The queue's redrive policy moves a message that keeps failing to
the DLQ. Each S3 object (bucket, key, ETag) is processed once (Powertools idempotency, kept
in Postgres); the analysis's conditional status update guards the rest. A heavy user's
message arriving on the main queue is moved to the heavy queue first (``FairShare``).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtone_core.idempotency import PostgresPersistenceLayer
from realtone_core.sqs import HEAVY_ATTRIBUTE
from realtone_scorer.events import S3Notification
from realtone_scorer.pooling import PooledDetector
from realtone_scorer.runtime import get_fair_share, get_runtime, get_scorer
from realtone_scorer.uploads import Delivery, S3Object

logger = Logger(service="realtone-scorer")
metrics = Metrics(namespace="RealTone", service="realtone-scorer")
processor = BatchProcessor(event_type=EventType.SQS)
idempotency = IdempotencyConfig(
    event_key_jmespath="[bucket, key, etag]",
    raise_on_no_idempotency_key=True,
    expires_after_seconds=24 * 3600,
)

if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):
    # Load the model during the init phase, once per container, never per message.
    get_scorer()


@idempotent_function(
    data_keyword_argument="s3_object",
    persistence_store=PostgresPersistenceLayer(lambda: get_runtime().services.db),
    config=idempotency,
)
def score_object(*, s3_object: S3Object, delivery: Delivery) -> str:
    return get_scorer().process_upload(s3_object, delivery).value


def record_handler(record: SQSRecord) -> None:
    notification = S3Notification.model_validate_json(record.body)
    if notification.is_test_event:
        logger.info("ignoring s3:TestEvent")
        metrics.add_metric(name="IgnoredTestEvents", unit=MetricUnit.Count, value=1)
        return
    delivery = Delivery(
        int(record.attributes.approximate_receive_count or 1),
        get_runtime().settings.max_receive_count,
    )
    s3_objects = notification.created_objects()
    # Decided before idempotency: a moved message is scored (and recorded) where it lands.
    moved = HEAVY_ATTRIBUTE in (record.message_attributes or {})
    if not moved and get_fair_share().defer(s3_objects, record.body):
        logger.info("heavy user: upload moved to the heavy queue", keys=[o.key for o in s3_objects])
        metrics.add_metric(name="UploadsDeferred", unit=MetricUnit.Count, value=1)
        return
    for s3_object in s3_objects:
        try:
            if delivery.is_retry:
                # The earlier attempt is over, though it may have died before clearing its
                # in-progress record: the analysis's claim guards it instead.
                outcome = get_scorer().process_upload(s3_object, delivery).value
            else:
                outcome = score_object(s3_object=s3_object, delivery=delivery)
        except IdempotencyAlreadyInProgressError:
            # Another delivery of this object is being scored, or was, by a scorer that died.
            # Retry later: by then it is finished (and answered from the record) or its
            # in-progress mark has expired.
            logger.info("same object in progress elsewhere; retrying later", key=s3_object.key)
            raise
        metrics.add_metric(name=f"Analyses{outcome.title()}", unit=MetricUnit.Count, value=1)


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency.register_lambda_context(context)
    handler: Callable[[SQSRecord], None] = record_handler
    detector = get_scorer().detector
    records = event.get("Records", [])
    if isinstance(detector, PooledDetector) and len(records) > 1:
        # Batching across messages: each record still goes through record_handler, in a
        # thread of its own; the BatchProcessor collects each one's outcome.
        wait = detector.side_by_side(
            {raw["messageId"]: partial(record_handler, SQSRecord(raw)) for raw in records}
        )
        handler = lambda record: wait(record.message_id)  # noqa: E731
    return dict(
        process_partial_response(
            event=event, record_handler=handler, processor=processor, context=context
        )
    )
