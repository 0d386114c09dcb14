"""The local webhook worker: long-polls the webhook queue and calls the webhook Lambda handler
with the exact event the SQS event source sends (what ``make run`` runs; on AWS the event
source mapping does this).

Messages the handler reports as failed are left alone: the handler has already hidden each
one until its next try is due, and SQS hands it back then.
``python -m realtone_local.webhooks`` (REALTONE_WEBHOOK_QUEUE_URL names the queue).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from realtone_core.sqs import sqs_client
from realtone_scorer.worker import LocalLambdaContext, to_lambda_event

Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class WebhookWorker:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        region: str,
        handler: Handler,
        wait_seconds: int = 1,
        batch_size: int = 10,
    ) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.region = region
        self.handler = handler
        self.wait_seconds = wait_seconds
        self.batch_size = batch_size
        self.stop = threading.Event()
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        self.queue_arn = str(attributes["Attributes"]["QueueArn"])

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:
                print(f"webhook worker: {exc!r}; retrying shortly", file=sys.stderr, flush=True)
                self.stop.wait(1)

    def poll_once(self) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not messages:
            return 0
        failed: set[str] = set()
        # One invocation per message, as the function's BatchSize of 1.
        for message in messages:
            event = to_lambda_event([message], self.queue_arn, self.region)
            context = LocalLambdaContext(
                region=self.region, function_name="realtone-webhooks-local", timeout_seconds=60
            )
            try:
                result = self.handler(event, context)
                failed |= {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except Exception:
                failed.add(message["MessageId"])
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)
                ],
            )
        return len(messages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m realtone_local.webhooks",
        description="Deliver webhooks: long-poll REALTONE_WEBHOOK_QUEUE_URL and call the webhook"
        " function's handler for each message. SIGTERM/Ctrl-C stops it.",
    )
    parser.add_argument("--wait-seconds", type=int, default=1, help="long-poll wait, 0-20 s")
    args = parser.parse_args(argv)
    # Each try (realtone_core.webhooks logs it) goes to the worker's log.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from realtone_api.webhook_handler import get_runtime, handler

    runtime = get_runtime()
    settings = runtime.settings
    worker = WebhookWorker(
        sqs_client(settings.aws_region, settings.aws_endpoint_url),
        settings.webhook_queue_url,
        settings.aws_region,
        handler,
        wait_seconds=args.wait_seconds,
    )

    def stop(_signum: int, _frame: FrameType | None) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(
        f"webhook worker ready: {settings.webhook_queue_url}; tries at"
        f" {runtime.sender.schedule.offsets()} s",
        file=sys.stderr,
        flush=True,
    )
    with contextlib.suppress(KeyboardInterrupt):
        worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
