"""Lambda entry point for the SQS event source (``realtone_scorer.handler.lambda_handler``).

Partial batch failures: a message that failed is reported back and retried alone; the rest
of the batch is deleted. The queue's redrive policy moves a message that keeps failing to
the DLQ. Each S3 object (bucket, key, ETag) is processed once (Powertools idempotency, kept
in Postgres); the analysis's conditional status update guards the rest.
"""

from __future__ import annotations

import contextvars
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
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
from realtone_scorer.app import get_runtime, get_scorer
from realtone_scorer.events import S3Notification
from realtone_scorer.pooling import PooledDetector

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
def score_object(*, s3_object: dict[str, Any], receive_count: int) -> str:
    outcome = get_scorer().process_upload(s3_object["key"], receive_count=receive_count)
    return outcome.value


def record_handler(record: SQSRecord) -> None:
    notification = S3Notification.model_validate_json(record.body)
    if notification.is_test_event:
        logger.info("ignoring s3:TestEvent")
        metrics.add_metric(name="IgnoredTestEvents", unit=MetricUnit.Count, value=1)
        return
    receive_count = int(record.attributes.approximate_receive_count or 1)
    for s3_record in notification.records:
        if not s3_record.is_object_created:
            continue
        s3_object = {
            "bucket": s3_record.s3.bucket.name,
            "key": s3_record.key,
            "etag": s3_record.s3.object.etag,
        }
        try:
            if receive_count > 1:
                # A retry of this very message: the earlier attempt is over, though it may have
                # died before clearing its in-progress record. The claim guards the analysis.
                outcome = get_scorer().process_upload(s3_record.key, receive_count).value
            else:
                outcome = score_object(s3_object=s3_object, receive_count=receive_count)
        except IdempotencyAlreadyInProgressError:
            # Another delivery of this object is being scored, or was, by a scorer that died.
            # Retry later: by then it is finished (and answered from the record) or its
            # in-progress mark has expired.
            logger.info("same object in progress elsewhere; retrying later", key=s3_record.key)
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
        handler = _score_side_by_side(detector, records)
    return dict(
        process_partial_response(
            event=event, record_handler=handler, processor=processor, context=context
        )
    )


def _score_side_by_side(
    pool: PooledDetector, records: list[dict[str, Any]]
) -> Callable[[SQSRecord], None]:
    """Batching across messages: every record of the event goes through ``record_handler``
    in a thread of its own, so their windows meet in the pool's forward passes. The
    BatchProcessor then collects each record's outcome (its exception, if it failed), so
    partial batch failures work as ever."""

    def run(raw: dict[str, Any]) -> None:
        try:
            record_handler(SQSRecord(raw))
        finally:
            pool.finished()

    pool.expect(len(records))
    executor = ThreadPoolExecutor(max_workers=len(records), thread_name_prefix="record")
    futures = {
        raw["messageId"]: executor.submit(contextvars.copy_context().run, run, raw)
        for raw in records
    }
    executor.shutdown(wait=False)
    return lambda record: futures[record.message_id].result()
