"""Long-polling worker: the ECS task on GPU hosts and, locally, the Lambda emulation.

It receives SQS messages, turns them into the exact event the Lambda SQS event source
sends, calls ``lambda_handler`` (the one processing path) and deletes what succeeded —
what the event source mapping does for the Lambda function.

With a heavy queue (``REALTONE_HEAVY_QUEUE_URL``) it takes the main queue first and the
heavy one when the main queue is empty, and, so that heavy users are never starved, one
heavy batch after every ``HEAVY_AFTER_SECONDS`` spent on the main queue (moving a heavy
user's message there takes milliseconds, so it hardly counts).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from aws_lambda_powertools import Logger

from realtone_core.sqs import sqs_client
from realtone_scorer.settings import ScorerSettings, get_settings

logger = Logger(service="realtone-scorer-worker")

HEAVY_AFTER_SECONDS = 60.0


@dataclass
class LocalLambdaContext:
    """What the handler reads of a Lambda context, for in-process invocations."""

    region: str = "local"
    function_name: str = "realtone-scorer-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 3008
    timeout_seconds: int = 900
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    log_group_name: str = "/aws/lambda/realtone-scorer-local"
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.timeout_seconds - (time.monotonic() - self._started)) * 1000))


def to_lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """SQS ``ReceiveMessage`` results → the ``Records`` event Lambda's SQS source delivers."""
    records = []
    for m in messages:
        attrs = m.get("Attributes", {})
        records.append(
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {
                    "ApproximateReceiveCount": attrs.get("ApproximateReceiveCount", "1"),
                    "SentTimestamp": attrs.get("SentTimestamp", "0"),
                    "SenderId": attrs.get("SenderId", ""),
                    "ApproximateFirstReceiveTimestamp": attrs.get(
                        "ApproximateFirstReceiveTimestamp", "0"
                    ),
                },
                "messageAttributes": {
                    name: {
                        "stringValue": value.get("StringValue"),
                        "binaryValue": value.get("BinaryValue"),
                        "stringListValues": [],
                        "binaryListValues": [],
                        "dataType": value.get("DataType"),
                    }
                    for name, value in m.get("MessageAttributes", {}).items()
                },
                "md5OfBody": m.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
        )
    return {"Records": records}


class VisibilityHeartbeat:
    """Keeps in-flight messages invisible while a long file is scored.

    Every ``visibility_seconds / 3`` the messages' visibility is pushed out again, so a
    slow file is not handed to a second worker, yet a worker that dies releases its
    messages within ``visibility_seconds``.
    """

    def __init__(
        self, sqs: Any, queue_url: str, messages: list[dict[str, Any]], visibility_seconds: int
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._handles = [m["ReceiptHandle"] for m in messages]
        self._visibility = visibility_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="visibility-heartbeat", daemon=True)
        self.extensions = 0

    def __enter__(self) -> VisibilityHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(max(self._visibility / 3, 0.2)):
            try:
                self._sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": self._visibility}
                        for i, h in enumerate(self._handles)
                    ],
                )
                self.extensions += 1
            except Exception as exc:
                logger.warning("could not extend message visibility", error=str(exc))


class Worker:
    def __init__(
        self,
        settings: ScorerSettings,
        batch_size: int = 1,
        wait_seconds: int = 10,
        visibility_seconds: int = 300,
        sweep_every_seconds: float = 60.0,
    ) -> None:
        if not settings.queue_url:
            raise SystemExit("REALTONE_QUEUE_URL must name the scorer queue the worker polls")
        self.settings = settings
        self.queue_url: str = settings.queue_url
        self.batch_size = batch_size
        self.wait_seconds = wait_seconds
        self.visibility_seconds = visibility_seconds
        self.sweep_every_seconds = sweep_every_seconds
        self.sqs = sqs_client(settings.aws_region, settings.aws_endpoint_url)
        self.heavy_queue_url: str | None = settings.heavy_queue_url
        self.heavy_queue_arn: str | None = None
        self.stop = threading.Event()
        self._busy = False
        self._last_sweep = 0.0
        self._main_seconds = 0.0

    def handle_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("stop requested", signal=signal.Signals(signum).name, busy=self._busy)
        self.stop.set()
        if not self._busy:
            # Nothing is held while waiting on the queue: leave at once.
            raise SystemExit(0)

    def run(self) -> None:
        from realtone_scorer.handler import lambda_handler
        from realtone_scorer.runtime import get_scorer

        get_scorer()  # load the model before the first message, once
        queue_arn = self.queue_arn(self.queue_url)
        logger.info(
            "worker ready",
            queue_url=self.queue_url,
            heavy_queue_url=self.heavy_queue_url,
            model=self.settings.model,
        )
        while not self.stop.is_set():
            try:
                self.maybe_sweep()
                self.poll_once(lambda_handler, queue_arn)
            except SystemExit:
                raise
            except Exception:
                logger.exception("worker loop error; retrying shortly")
                self.stop.wait(2)

    def maybe_sweep(self) -> None:
        if time.monotonic() - self._last_sweep < self.sweep_every_seconds:
            return
        from realtone_core.sweep import run_sweep
        from realtone_scorer.runtime import get_runtime

        self._last_sweep = time.monotonic()
        run_sweep(get_runtime().services, self.queue_url)

    def queue_arn(self, queue_url: str) -> str:
        attributes = self.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        return str(attributes["Attributes"]["QueueArn"])

    def poll_once(self, handler: Any, queue_arn: str) -> int:
        """Receive and handle one batch (main queue ``queue_arn``, or the heavy queue when
        it is due); returns how many messages were handled."""
        if not self.heavy_queue_url:
            return self._poll(handler, self.queue_url, queue_arn, self.wait_seconds)
        if self.heavy_queue_arn is None:
            self.heavy_queue_arn = self.queue_arn(self.heavy_queue_url)
        order = [(self.queue_url, queue_arn), (self.heavy_queue_url, self.heavy_queue_arn)]
        if self._main_seconds >= HEAVY_AFTER_SECONDS:
            order.reverse()
        for url, arn in order:
            started = time.monotonic()
            handled = self._poll(handler, url, arn, 0)
            if handled:
                if url == self.queue_url:
                    self._main_seconds += time.monotonic() - started
                else:
                    self._main_seconds = 0.0
                return handled
        self._main_seconds = 0.0
        # Both empty: wait on the main queue (a heavy message waits at most this long).
        return self._poll(handler, self.queue_url, queue_arn, self.wait_seconds)

    def _poll(self, handler: Any, queue_url: str, queue_arn: str, wait_seconds: int) -> int:
        response = self.sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=wait_seconds,
            VisibilityTimeout=self.visibility_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return 0
        self._busy = True
        try:
            event = to_lambda_event(messages, queue_arn, self.settings.aws_region)
            with VisibilityHeartbeat(self.sqs, queue_url, messages, self.visibility_seconds):
                try:
                    context = LocalLambdaContext(
                        region=self.settings.aws_region, timeout_seconds=self.visibility_seconds
                    )
                    result = handler(event, context)
                    failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
                except Exception:
                    # As with Lambda: a handler error fails the whole batch, which is retried.
                    logger.exception("handler failed for the whole batch")
                    failed = {m["MessageId"] for m in messages}
            done = [m for m in messages if m["MessageId"] not in failed]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done)
                    ],
                )
            if failed:
                # Failed messages come back once their visibility runs out (the retry delay),
                # and go to the DLQ after maxReceiveCount deliveries, as with Lambda.
                logger.info("messages left for retry", count=len(failed))
            return len(messages)
        finally:
            self._busy = False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m realtone_scorer.worker",
        description=(
            "Long-poll the scorer queue (REALTONE_QUEUE_URL) and score each upload through "
            "the Lambda handler. SIGTERM/Ctrl-C: finish the current message, then exit."
        ),
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="messages received per poll, 1-10 (default: REALTONE_WORKER_BATCH, else 1)",
    )
    parser.add_argument("--wait-seconds", type=int, default=10, help="long-poll wait, 0-20 s")
    parser.add_argument(
        "--visibility-seconds",
        type=int,
        default=None,
        help="how long a received message stays hidden; extended while it is scored, so this"
        " is also how soon a crashed worker's message is retried"
        " (default: REALTONE_CLAIM_LEASE_SECONDS, the scorer's lease on an analysis)",
    )
    parser.add_argument(
        "--sweep-every",
        type=float,
        default=60.0,
        help="seconds between sweeps for expired uploads and stuck analyses (default 60)",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    worker = Worker(
        settings,
        batch_size=args.batch_size or settings.worker_batch,
        wait_seconds=args.wait_seconds,
        visibility_seconds=args.visibility_seconds or settings.claim_lease_seconds,
        sweep_every_seconds=args.sweep_every,
    )
    signal.signal(signal.SIGTERM, worker.handle_signal)
    signal.signal(signal.SIGINT, worker.handle_signal)
    with contextlib.suppress(SystemExit):
        worker.run()
    logger.info("worker stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
