"""Who is speaking, end to end: an upload of two alternating voices through the scorer's
Lambda handler and the API, with the real speaker encoder."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from realtone_scorer.audio import decode
from realtone_scorer.worker import LocalLambdaContext, to_lambda_event
from tests.integration.test_handlers import QUEUE_ARN, REGION, uploaded

pytestmark = pytest.mark.integration

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"


def voice(name: str) -> np.ndarray:
    return decode(AUDIO / name, 60).samples


def alternation(*parts: tuple[str, float, float]) -> tuple[bytes, list[str]]:
    """WAV bytes of (file, from s, to s) pieces joined; and who speaks in each 4-s window
    (the pieces are cut on window boundaries)."""
    pieces, truth = [], []
    for name, lo, hi in parts:
        pieces.append(voice(name)[int(lo * 16_000) : int(hi * 16_000)])
        truth += [name] * round((hi - lo) / 4)
    out = io.BytesIO()
    sf.write(out, np.concatenate(pieces), 16_000, format="WAV", subtype="PCM_16")
    return out.getvalue(), truth


@pytest.fixture(scope="module")
def scorer_handler(stack):
    from realtone_scorer.handler import lambda_handler

    return lambda_handler


def score(client, headers, queue, handler, data: bytes) -> dict:
    ident, _ = uploaded(client, headers, data, "call.wav")
    messages = queue.wait_for_key(ident)
    assert handler(to_lambda_event(messages, QUEUE_ARN, REGION), LocalLambdaContext()) == {
        "batchItemFailures": []
    }
    for m in messages:
        queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    body = client.get(f"/v1/analyses/{ident}", headers=headers).json()
    assert body["status"] == "completed"
    return body


def test_two_alternating_voices_become_two_speakers_with_a_verdict_each(
    client, new_user, queue, scorer_handler
):
    real, synthetic = "speech-asterisk-june.flac", "synthetic-piper-joe.flac"
    data, truth = alternation((real, 0, 8), (synthetic, 0, 8), (real, 8, 16), (synthetic, 8, 16))
    body = score(client, new_user(), queue, scorer_handler, data)
    speakers = [c["speaker"] for c in body["chunks"]]
    assert None not in speakers and not any(c["overlap"] for c in body["chunks"])
    # One label per voice, the same wherever that voice comes back.
    assert len(set(speakers)) == 2
    assert {
        name: {s for s, t in zip(speakers, truth, strict=True) if t == name} for name in set(truth)
    } == {
        real: {speakers[0]},
        synthetic: {speakers[2]},
    }
    listed = body["summary"]["speakers"]
    assert [s["speaker"] for s in listed] == [0, 1]
    assert [s["seconds"] for s in listed] == [16.0, 16.0]
    assert [s["share"] for s in listed] == [0.5, 0.5]
    for s in listed:
        own = [c["score"] for c in body["chunks"] if c["speaker"] == s["speaker"]]
        assert s["verdict"] in ("fake", "likely_fake", "real")
        assert min(own) <= s["score"] <= max(own)
    assert body["summary"]["impersonation"] is None
    assert "embedding" not in str(body)


def test_one_voice_is_one_speaker(client, new_user, queue, scorer_handler):
    data, _ = alternation(("speech-asterisk-june.flac", 0, 16))
    body = score(client, new_user(), queue, scorer_handler, data)
    assert {c["speaker"] for c in body["chunks"]} == {0}
    assert len(body["summary"]["speakers"]) == 1


def test_a_synthetic_speaker_that_sounds_like_an_enrolled_voice_raises_an_impersonation(
    client, new_user, queue, scorer_handler, monkeypatch
):
    from realtone_scorer.runtime import get_scorer

    headers = new_user()
    original, _ = alternation(("speech-asterisk-june.flac", 0, 16))
    first = score(client, headers, queue, scorer_handler, original)
    r = client.post(
        "/v1/voices",
        headers=headers,
        json={"name": "June", "sources": [{"analysis_id": first["id"], "speaker": 0}]},
    )
    assert r.status_code == 201, r.text
    june = r.json()
    assert "embedding" not in r.text

    # Her voice again (the same recording, quieter: other bytes), and a detector that finds
    # every window synthetic: a clone of an enrolled voice.
    detector = get_scorer().detector
    monkeypatch.setattr(detector, "score", lambda windows: np.full(len(windows), 0.99))
    quieter = io.BytesIO()
    sf.write(quieter, voice("speech-asterisk-june.flac") * 0.8, 16_000, format="WAV")
    clone = score(client, headers, queue, scorer_handler, quieter.getvalue())
    summary = clone["summary"]
    assert summary["verdict"] == "fake"
    assert summary["impersonation"]["voice_id"] == june["id"]
    assert summary["impersonation"]["name"] == "June"
    assert summary["impersonation"]["speaker"] == 0
    assert summary["impersonation"]["similarity"] >= 0.9
    assert summary["speakers"][0]["enrolled_voice"]["id"] == june["id"]

    # The same bytes again reuse the result, matched against the voices as they are now.
    assert client.delete(f"/v1/voices/{june['id']}", headers=headers).status_code == 204
    reused = score(client, headers, queue, scorer_handler, quieter.getvalue())
    assert reused["summary"]["impersonation"] is None
    assert reused["summary"]["speakers"][0]["enrolled_voice"] is None

    # Search by her first recording's speaker finds both later ones, newest first.
    r = client.post(
        "/v1/voices/search", headers=headers, json={"analysis_id": first["id"], "speaker": 0}
    )
    assert r.status_code == 200, r.text
    assert [h["analysis_id"] for h in r.json()["items"]] == [reused["id"], clone["id"]]
    # Another account finds nothing of hers, and cannot search by her analysis.
    other = new_user()
    r = client.post(
        "/v1/voices/search", headers=other, json={"analysis_id": first["id"], "speaker": 0}
    )
    assert r.status_code == 404
