"""The analysis lifecycle (create, read status, reconcile an upload) driven with fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from realtone_core import lifecycle
from realtone_core.errors import RateLimitedError, RealToneError
from realtone_core.models import Status
from tests.fakes import InMemoryAnalyses, InMemoryCache, InMemoryLimiter, InMemoryObjects

POLICY = lifecycle.UploadPolicy(
    max_upload_bytes=1000, upload_url_seconds=600, analyses_per_minute=2, upload_bytes_per_day=5000
)


@pytest.fixture
def ports():
    return {
        "analyses": InMemoryAnalyses(),
        "objects": InMemoryObjects(),
        "cache": InMemoryCache(),
        "limiter": InMemoryLimiter(),
    }


def create(ports, owner, size=500, key=None, name="a.wav", content_type="audio/wav"):
    upload = lifecycle.NewUpload(name, content_type, size, key)
    return lifecycle.create_analysis(owner, upload, POLICY, **ports)


def test_create_signs_a_policy_for_the_exact_key_and_size(ports):
    owner = uuid4()
    record, post = create(ports, owner)
    assert record.status == Status.AWAITING_UPLOAD and record.owner_id == owner
    assert post.fields["key"] == record.object_key and post.max_bytes == 500
    assert record.upload_expires_at == post.expires_at
    assert ports["cache"].get(record.id).status == Status.AWAITING_UPLOAD


@pytest.mark.parametrize(
    ("size", "name", "content_type", "status", "code"),
    [
        (5000, "a.wav", "audio/wav", 413, "too_large"),
        (100, "a.pdf", "application/pdf", 415, "unsupported_format"),
    ],
)
def test_bad_uploads_are_refused_before_anything_is_stored(
    ports, size, name, content_type, status, code
):
    with pytest.raises(RealToneError) as err:
        create(ports, uuid4(), size, name=name, content_type=content_type)
    assert (err.value.status_code, err.value.code) == (status, code)
    assert ports["analyses"].rows == {} and ports["limiter"].used == {}


def test_an_idempotent_replay_is_the_same_analysis_and_is_not_charged_twice(ports):
    owner = uuid4()
    first, _ = create(ports, owner, key="k")
    again, post = create(ports, owner, key="k")
    assert again.id == first.id and post.fields["key"] == first.object_key
    assert ports["limiter"].used[("analyses", str(owner))] == 1
    with pytest.raises(RealToneError) as err:
        create(ports, owner, size=501, key="k")
    assert (err.value.status_code, err.value.code) == (409, "idempotency_conflict")


def test_quotas_count_analyses_and_bytes(ports):
    owner = uuid4()
    create(ports, owner)
    create(ports, owner)
    with pytest.raises(RateLimitedError, match="per minute"):
        create(ports, owner)
    ports["limiter"].used.clear()
    ports["limiter"].used[("upload-bytes", str(owner))] = 4800
    with pytest.raises(RateLimitedError, match="daily limit"):
        create(ports, owner)


def test_cached_status_serves_only_the_owner_and_not_while_awaiting_upload(ports):
    owner = uuid4()
    record, _ = create(ports, owner)
    assert lifecycle.cached_status(ports["cache"], record.id, owner) is None  # awaiting: ask S3
    with pytest.raises(RealToneError) as err:
        lifecycle.cached_status(ports["cache"], record.id, uuid4())
    assert err.value.status_code == 404
    queued = ports["analyses"].mark_queued(record.id)
    lifecycle.publish(ports["cache"], queued, [])
    assert lifecycle.cached_status(ports["cache"], record.id, owner).status == Status.QUEUED


def test_stored_status_learns_of_an_upload_from_storage(ports):
    owner = uuid4()
    record, _ = create(ports, owner)
    reads = {k: ports[k] for k in ("analyses", "objects", "cache")}
    assert lifecycle.stored_status(record.id, owner, **reads).status == Status.AWAITING_UPLOAD
    ports["objects"].objects[record.object_key] = b"RIFF"
    document = lifecycle.stored_status(record.id, owner, **reads)
    assert document.status == Status.QUEUED
    assert json.loads(document.body)["status"] == "queued"
    assert ports["cache"].get(record.id).status == Status.QUEUED
    with pytest.raises(RealToneError):
        lifecycle.stored_status(record.id, uuid4(), **reads)


def test_an_upload_window_that_closed_empty_expires(ports):
    owner = uuid4()
    record, _ = create(ports, owner)
    later = record.upload_expires_at + timedelta(seconds=1)
    ports["analyses"].rows[record.id] = record.model_copy(
        update={"upload_expires_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    stale = ports["analyses"].rows[record.id]
    done = lifecycle.reconcile_upload(
        stale, analyses=ports["analyses"], objects=ports["objects"], now=later
    )
    assert done.status == Status.EXPIRED


def test_reconciling_a_stale_record_reports_where_the_analysis_is_now(ports):
    owner = uuid4()
    record, _ = create(ports, owner)
    ports["objects"].objects[record.object_key] = b"RIFF"
    # The scorer claimed it between the read and the reconcile.
    ports["analyses"].claim(record.id, record.object_key, 900)
    current = lifecycle.reconcile_upload(
        record, analyses=ports["analyses"], objects=ports["objects"]
    )
    assert current.status == Status.PROCESSING
