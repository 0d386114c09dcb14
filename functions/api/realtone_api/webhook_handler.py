"""Lambda entry point for the webhook queue (``realtone_api.webhook_handler.handler``).

Each message names one delivery; the handler makes its next try. A try that failed with
tries left hides its message until the next one is due (``ChangeMessageVisibility``) and
reports it as a batch item failure, so SQS hands it back then; a delivery that succeeded,
or failed its last try, lets its message be deleted. Locally ``realtone_local.webhooks``
long-polls the queue and calls this handler, as the event source mapping does on AWS.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtone_core.config import WebhookSettings
from realtone_core.db import Database
from realtone_core.sqs import sqs_client
from realtone_core.store import AnalysisStore
from realtone_core.webhooks import (
    RetryIn,
    RetrySchedule,
    UrlPolicy,
    WebhookQueue,
    WebhookSender,
    WebhookStore,
    parse_message,
)

logger = Logger(service="realtone-webhooks")
# A failed try is the normal way to wait for the next one: with one message per batch it is
# reported as a batch item failure, not raised as an error of the whole invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


class RetryLater(Exception):
    """The delivery's try failed; its message comes back when the next one is due."""


@dataclass(frozen=True)
class WebhookRuntime:
    settings: WebhookSettings
    sender: WebhookSender
    queue: WebhookQueue

    @classmethod
    def from_settings(cls, settings: WebhookSettings) -> WebhookRuntime:
        db = Database(settings.database_url, settings.database_pool_size)
        sender = WebhookSender(
            store=WebhookStore(db),
            analyses=AnalysisStore(db),
            policy=UrlPolicy.for_env(settings.env, settings.webhook_allow_loopback),
            schedule=RetrySchedule(
                tuple(settings.webhook_retry_delays), settings.webhook_retry_jitter
            ),
            timeout_seconds=settings.webhook_timeout_seconds,
        )
        sqs = sqs_client(settings.aws_region, settings.aws_endpoint_url)
        return cls(settings, sender, WebhookQueue(sqs, settings.webhook_queue_url))


@lru_cache(maxsize=1)
def get_runtime() -> WebhookRuntime:
    return WebhookRuntime.from_settings(WebhookSettings.load())


def record_handler(record: SQSRecord, runtime: WebhookRuntime | None = None) -> str:
    runtime = runtime or get_runtime()
    delivery_id = parse_message(record.body)
    if delivery_id is None:
        logger.warning("not a webhook delivery message; dropped", body=record.body[:200])
        return "dropped"
    outcome = runtime.sender.attempt(delivery_id)
    if isinstance(outcome, RetryIn):
        logger.info("webhook try failed", delivery_id=str(delivery_id), retry_in=outcome.seconds)
        runtime.queue.retry_in(record.receipt_handle, outcome.seconds)
        raise RetryLater(f"delivery {delivery_id}: next try in {outcome.seconds} s")
    logger.info("webhook delivery settled", delivery_id=str(delivery_id), status=outcome.status)
    return outcome.status


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    get_runtime()
    return dict(
        process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    )
