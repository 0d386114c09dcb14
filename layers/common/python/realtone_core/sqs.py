"""SQS adapter (the scorer's queues): client factory, the heavy queue and the health check."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config


def sqs_client(region: str, endpoint_url: str | None) -> Any:
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=30
    )
    return boto3.client("sqs", region_name=region, endpoint_url=endpoint_url, config=config)


def check_queue(client: Any, queue_url: str) -> None:
    client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])


# Marks a message the scorer moved to the heavy queue: it is scored there, never moved again.
HEAVY_ATTRIBUTE = "realtone-heavy"


class HeavyQueue:
    """The queue heavy users' uploads wait in (``realtone_scorer.uploads.FairShare``)."""

    def __init__(self, client: Any, url: str) -> None:
        self._client = client
        self.url = url

    def send(self, body: str) -> None:
        self._client.send_message(
            QueueUrl=self.url,
            MessageBody=body,
            MessageAttributes={HEAVY_ATTRIBUTE: {"DataType": "String", "StringValue": "1"}},
        )
