"""The periodic sweep: nothing stays ``awaiting_upload``, ``queued`` or ``processing`` forever.

* An upload window that closed without an object → ``expired``; with an object (its S3
  event was lost) → ``queued`` and its event is sent again.
* An analysis whose scorer died (lease ran out) or whose event was lost → its event is
  sent again; one that used all its attempts → ``failed``/``internal_error``.

Runs in the worker every minute and as a scheduled function on AWS.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote_plus

from realtone_core.errors import ErrorCode
from realtone_core.models import AnalysisRecord
from realtone_core.services import Services
from realtone_core.status import publish

log = logging.getLogger(__name__)

EXPIRY_GRACE_SECONDS = 60


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def requeue_event(bucket: str, key: str, etag: str | None = None) -> str:
    """An S3 notification body, as the bucket would send for the object."""
    return json.dumps(
        {
            "Records": [
                {
                    "eventVersion": "2.1",
                    "eventSource": "aws:s3",
                    "eventTime": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    "eventName": "ObjectCreated:Requeued",
                    "s3": {
                        "bucket": {"name": bucket},
                        "object": {"key": quote_plus(key, safe="/"), "eTag": etag},
                    },
                }
            ]
        }
    )


def _send(services: Services, record: AnalysisRecord) -> None:
    info = services.objects.head(record.object_key)
    body = requeue_event(services.objects.bucket, record.object_key, info.etag if info else None)
    services.sqs.send_message(QueueUrl=services.settings.queue_url, MessageBody=body)


def run_sweep(services: Services) -> SweepReport:
    s = services.settings
    store = services.analyses
    report = SweepReport()
    for record in store.overdue_uploads(EXPIRY_GRACE_SECONDS):
        if services.objects.head(record.object_key) is not None:
            queued = store.mark_queued(record.id)
            if queued:
                publish(store, services.cache, queued)
                _send(services, queued)
                report.requeued.append(str(record.id))
        elif (expired := store.expire(record.id)) is not None:
            publish(store, services.cache, expired)
            report.expired.append(str(record.id))
    for record in store.out_of_attempts(s.claim_lease_seconds, s.max_receive_count):
        failed = store.fail(
            record.id, ErrorCode.INTERNAL_ERROR, "Scoring did not finish after repeated attempts"
        )
        if failed:
            publish(store, services.cache, failed)
            report.failed.append(str(record.id))
    for record in store.requeue_stuck(s.claim_lease_seconds, s.max_receive_count):
        _send(services, record)
        report.requeued.append(str(record.id))
    if report.expired or report.requeued or report.failed:
        log.info(
            "sweep: %d expired, %d requeued, %d failed",
            len(report.expired),
            len(report.requeued),
            len(report.failed),
        )
    return report
