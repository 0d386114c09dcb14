"""The analysis lifecycle (create, read status, reconcile an upload) driven with fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from realtone_core import lifecycle
from realtone_core.errors import RateLimitedError, RealToneError
from realtone_core.models import Chunk, ModelCard, ScoringResult, Status, Summary
from tests.fakes import (
    InMemoryAccounts,
    InMemoryAnalyses,
    InMemoryCache,
    InMemoryLimiter,
    InMemoryObjects,
)

POLICY = lifecycle.UploadPolicy(
    max_upload_bytes=1000,
    upload_url_seconds=600,
    analyses_per_minute=2,
    upload_bytes_per_day=5000,
    max_in_flight=3,
)


@pytest.fixture
def ports():
    analyses = InMemoryAnalyses()
    return {
        "analyses": analyses,
        "objects": InMemoryObjects(),
        "cache": InMemoryCache(),
        "limiter": InMemoryLimiter(),
        "accounts": InMemoryAccounts(analyses),
    }


def create(ports, owner, size=500, key=None, name="a.wav", content_type="audio/wav"):
    if ports["accounts"].by_id(owner) is None:
        ports["accounts"].add(user_id=owner)
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
    assert ports["analyses"].rows == {} and ports["limiter"].counts == {}


def test_an_idempotent_replay_is_the_same_analysis_and_is_not_charged_twice(ports):
    owner = uuid4()
    first, _ = create(ports, owner, key="k")
    again, post = create(ports, owner, key="k")
    assert again.id == first.id and post.fields["key"] == first.object_key
    assert ports["limiter"].counts[("analyses", str(owner))] == 1
    with pytest.raises(RealToneError) as err:
        create(ports, owner, size=501, key="k")
    assert (err.value.status_code, err.value.code) == (409, "idempotency_conflict")


def test_quotas_count_analyses_and_bytes(ports):
    owner = uuid4()
    create(ports, owner)
    create(ports, owner)
    with pytest.raises(RateLimitedError, match="per minute"):
        create(ports, owner)
    ports["limiter"].counts.clear()
    ports["limiter"].counts[("upload-bytes", str(owner))] = 4800
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


@pytest.mark.parametrize(
    ("declared", "name", "stored"),
    [
        ("audio/wav;charset=utf-8,text/html", "a.wav", "audio/wav"),
        ("Audio/WebM; codecs=opus", "a.webm", "audio/webm"),
        ("application/octet-stream", "a.mp3", "audio/mpeg"),
        ("", "a.flac", "audio/flac"),
    ],
)
def test_only_a_bare_audio_type_is_stored_and_signed(ports, declared, name, stored):
    record, post = create(ports, uuid4(), name=name, content_type=declared)
    assert record.content_type == stored and post.fields["Content-Type"] == stored


@pytest.mark.parametrize(
    "declared", ["audio/wav\r\nX-Injected: 1", "audio/wav\n", "text/html", "audio/wav\x00"]
)
def test_control_characters_and_other_types_are_refused(ports, declared):
    with pytest.raises(RealToneError) as err:
        create(ports, uuid4(), content_type=declared)
    assert (err.value.status_code, err.value.code) == (415, "unsupported_format")


def test_a_replay_gets_a_policy_only_while_awaiting_the_upload_and_never_a_longer_one(ports):
    owner = uuid4()
    first, _ = create(ports, owner, key="k")
    _, again = create(ports, owner, key="k")
    assert again.expires_at <= first.upload_expires_at
    ports["analyses"].mark_queued(first.id)
    with pytest.raises(RealToneError) as err:
        create(ports, owner, key="k")
    assert (err.value.status_code, err.value.code) == (409, "upload_closed")
    assert str(first.id) in err.value.message


def test_a_replay_after_the_upload_window_closed_gets_no_policy(ports):
    owner = uuid4()
    first, _ = create(ports, owner, key="k")
    ports["analyses"].rows[first.id] = first.model_copy(
        update={"upload_expires_at": datetime.now(UTC) - timedelta(seconds=1)}
    )
    with pytest.raises(RealToneError) as err:
        create(ports, owner, key="k")
    assert err.value.code == "upload_closed"


def test_analyses_in_flight_are_capped_per_owner_and_the_refusal_costs_nothing(ports):
    owner = uuid4()
    limiter = ports["limiter"]
    made = [create(ports, owner)[0] for _ in range(2)]
    limiter.counts.clear()  # the per-minute limit is not what is tested here
    create(ports, owner)
    before = dict(limiter.counts)
    with pytest.raises(RateLimitedError) as err:
        create(ports, owner)
    assert err.value.retry_after == lifecycle.IN_FLIGHT_RETRY_SECONDS
    assert "3 analyses" in err.value.message
    assert limiter.counts == before  # given back
    # A finished one makes room; other owners are not affected.
    ports["analyses"].fail(made[0].id, "corrupt_audio", "bad")
    create(ports, owner)
    create(ports, uuid4())


def _completed(ports, owner, etag="etag-1"):
    record, _ = create(ports, owner)
    ports["objects"].objects[record.object_key] = b"RIFF-scored"
    analyses = ports["analyses"]
    held = analyses.claim(record.id, record.object_key, 900)
    analyses.record_object(record.id, held.claim_token, etag, "s" * 64)
    result = ScoringResult(
        duration_seconds=1.0,
        processing_ms=1,
        model=ModelCard(name="m", version="1", sha256="0" * 64, trained=False),
        summary=Summary(
            verdict="real",
            score=0.1,
            max_score=0.1,
            mean_score=0.1,
            fake_chunk_ratio=0.0,
            threshold=0.5,
        ),
        chunks=[
            Chunk(chunk_id=0, start_time_seconds=0, end_time_seconds=1, score=0.1, voiced=True)
        ],
        timings={},
    )
    return analyses.complete(record.id, held.claim_token, result)


def test_audio_url_is_pinned_to_the_stored_type(ports):
    import hashlib

    record = _completed(ports, uuid4(), etag=hashlib.md5(b"RIFF-scored").hexdigest())
    url, _ = lifecycle.audio_url(record, objects=ports["objects"], expires_in=60)
    assert "response-content-type=audio/wav" in url and "attachment" in url


def test_no_audio_url_once_the_object_was_replaced_or_when_it_was_not_audio(ports):
    record = _completed(ports, uuid4(), etag="the-scored-one")
    with pytest.raises(RealToneError) as err:
        lifecycle.audio_url(record, objects=ports["objects"], expires_in=60)
    assert (err.value.status_code, err.value.code) == (410, "audio_replaced")
    other, _ = create(ports, uuid4())
    failed = ports["analyses"].fail(other.id, "corrupt_audio", "not audio")
    with pytest.raises(RealToneError) as err:
        lifecycle.audio_url(failed, objects=ports["objects"], expires_in=60)
    assert (err.value.status_code, err.value.code) == (404, "not_audio")


def test_a_deleted_analysis_cannot_be_published_back(ports):
    owner = uuid4()
    record, _ = create(ports, owner)
    reads = {k: ports[k] for k in ("analyses", "objects", "cache")}
    lifecycle.delete_analysis(record.id, owner, **reads)
    lifecycle.publish(ports["cache"], record, [])  # a scorer finishing late
    assert ports["cache"].get(record.id) is None
    with pytest.raises(RealToneError):
        lifecycle.delete_analysis(record.id, owner, **reads)
