"""The periodic sweep: nothing stays ``awaiting_upload``, ``queued`` or ``processing`` forever.

* An upload window that closed without an object → ``expired``; with an object (its S3
  event was lost) → ``queued`` and its event is sent again.
* An analysis whose scorer died (lease ran out) or whose event was lost → its event is
  sent again; one that used all its attempts → ``failed``/``internal_error``.
* An object that arrived for an analysis that had already expired (an upload started just
  before its policy ran out, whose S3 event was lost) is deleted: it is never scored, so
  it must not be kept either.
* Retention (``realtone_core.account``): the audio of zero-retention analyses still in
  storage after scoring (the scorer deletes it at once; this catches a failed delete or an
  account that switched to zero-retention), and audio older than its account's N days, is
  deleted and recorded on the analysis; the result stays.
* Scorer idempotency records that expired are removed.

Runs in the worker every minute and as a scheduled function on AWS.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote_plus

from realtone_core.errors import ErrorCode
from realtone_core.idempotency import purge_expired
from realtone_core.lifecycle import delete_audio, publish_stored, reconcile_upload
from realtone_core.models import AnalysisRecord, Status
from realtone_core.s3 import ObjectInfo
from realtone_core.services import Services
from realtone_core.webhooks import WebhookQueue, WebhookStore, dispatch

log = logging.getLogger(__name__)

EXPIRY_GRACE_SECONDS = 60
# An upload that S3 accepted before its policy expired may still be arriving for a while;
# an expired analysis's key is looked at once, this long after its window closed.
LATE_UPLOAD_GRACE_SECONDS = 15 * 60
# Audio objects deleted under retention per run (a run every few minutes).
RETENTION_BATCH = 500


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    late_objects_deleted: list[str] = field(default_factory=list)
    audio_deleted: list[str] = field(default_factory=list)
    # Webhook deliveries that were not on the webhook queue yet (see _send_webhooks).
    webhooks_queued: list[str] = field(default_factory=list)


def requeue_event(bucket: str, key: str, info: ObjectInfo | None = None) -> str:
    """An S3 notification body, as the bucket would send for the object."""
    s3_object: dict[str, object] = {"key": quote_plus(key, safe="/")}
    if info is not None:
        s3_object.update(eTag=info.etag, size=info.size)
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
                        "object": s3_object,
                    },
                }
            ]
        }
    )


def _send(services: Services, queue_url: str, record: AnalysisRecord) -> None:
    info = services.objects.head(record.object_key)
    body = requeue_event(services.objects.bucket, record.object_key, info)
    services.sqs.send_message(QueueUrl=queue_url, MessageBody=body)


def run_sweep(services: Services, queue_url: str) -> SweepReport:
    s = services.settings
    store = services.analyses
    report = SweepReport()
    for record in store.overdue_uploads(EXPIRY_GRACE_SECONDS):
        now = datetime.now(UTC)
        current = reconcile_upload(record, analyses=store, objects=services.objects, now=now)
        if current.status == record.status:
            continue
        publish_stored(store, services.cache, current)
        if current.status == Status.QUEUED:
            # Its S3 event was lost (or is late): send it again.
            _send(services, queue_url, current)
            report.requeued.append(str(record.id))
        elif current.status == Status.EXPIRED:
            report.expired.append(str(record.id))
    for record in store.out_of_attempts(s.claim_lease_seconds, s.max_receive_count):
        failed = store.fail(
            record.id, ErrorCode.INTERNAL_ERROR, "Scoring did not finish after repeated attempts"
        )
        if failed:
            publish_stored(store, services.cache, failed)
            report.failed.append(str(record.id))
    for record in store.requeue_stuck(s.claim_lease_seconds, s.max_receive_count):
        _send(services, queue_url, record)
        report.requeued.append(str(record.id))
    for record in store.expired_unchecked(LATE_UPLOAD_GRACE_SECONDS):
        if services.objects.head(record.object_key) is not None:
            services.objects.delete(record.object_key)
            report.late_objects_deleted.append(str(record.id))
        store.mark_late_checked(record.id)
    enforce_retention(services, report)
    report.webhooks_queued = _send_webhooks(services)
    purge_expired(services.db)
    if any(vars(report).values()):
        log.info(
            "sweep: %d expired, %d requeued, %d failed, %d late uploads deleted,"
            " %d past retention deleted, %d webhook deliveries queued",
            len(report.expired),
            len(report.requeued),
            len(report.failed),
            len(report.late_objects_deleted),
            len(report.audio_deleted),
            len(report.webhooks_queued),
        )
    return report


def enforce_retention(services: Services, report: SweepReport) -> None:
    """Delete the audio that its account's retention no longer keeps (at most
    ``RETENTION_BATCH`` objects a run; the rest in the next runs)."""
    store = services.analyses
    for record, reason, days in store.audio_past_retention(RETENTION_BATCH):
        deleted = delete_audio(record, reason, days, analyses=store, objects=services.objects)
        if deleted is not None:
            # Cached documents say so at once (not after the cache's TTL).
            publish_stored(store, services.cache, deleted)
            report.audio_deleted.append(str(record.id))


def _send_webhooks(services: Services) -> list[str]:
    """Webhooks: deliveries made by an analysis's end that nobody sent to the queue (this
    sweep failed or expired it, an API read found it expired, or the sender died first)."""
    queue_url = services.settings.webhook_queue_url
    if not queue_url:
        return []
    queue = WebhookQueue(services.sqs, queue_url)
    return [str(d) for d in dispatch(WebhookStore(services.db), queue)]
