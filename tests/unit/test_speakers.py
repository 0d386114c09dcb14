"""Who is speaking: the GE2E encoder pinned to its published outputs, the clustering, the
per-speaker verdicts and the enrolled-voice alerts."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import uuid4

import numpy as np
import pytest
import torch

from realtone_core.models import SpeakerSummary, Summary
from realtone_scorer.audio import decode
from realtone_scorer.families.base import ModelLoadError
from realtone_scorer.options import SpeakerOptions
from realtone_scorer.speaker_encoder import (
    HOP,
    SpeakerEncoder,
    load_encoder,
    mel_filters,
    normalise_volume,
    power_spectrogram,
)
from realtone_scorer.speakers import WindowVoice, cluster, diarize, match_enrolled

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def encoder() -> SpeakerEncoder:
    return SpeakerEncoder()


def test_the_encoder_reproduces_resemblyzers_published_embeddings(encoder):
    """Reference computed once with resemblyzer 0.1.4 and librosa (kept as data)."""
    ref = json.loads((DATA / "ge2e_reference.json").read_text())
    wav = normalise_volume(decode(DATA / "audio" / "speech-asterisk-allison.flac", 60).samples)
    wav = wav[: 5 * 16_000]
    stop = ref["slices"][-1][1]
    wav = np.pad(wav, (0, max(0, stop - len(wav))))
    power = power_spectrogram(wav[None])[0]
    mel = power @ mel_filters().T
    np.testing.assert_allclose(mel[100], ref["mel_frame_100"], rtol=1e-4, atol=1e-7)
    slices = [slice(a // HOP, b // HOP) for a, b in ref["slices"]]
    with torch.inference_mode():
        published = load_encoder()(torch.from_numpy(np.stack([mel[s] for s in slices])))
    np.testing.assert_allclose(published.numpy(), ref["partials"], atol=1e-4)
    # What the scorer runs (mel filters and network in ONNX Runtime) gives the same.
    got = encoder.run(np.stack([power[s] for s in slices]))
    np.testing.assert_allclose(got, ref["partials"], atol=1e-4)


def test_weights_that_are_not_the_pinned_ones_are_refused(tmp_path):
    fake = tmp_path / "ge2e.pt"
    fake.write_bytes(b"not the weights")
    with pytest.raises(ModelLoadError, match="sha256"):
        load_encoder(fake)
    with pytest.raises(ModelLoadError, match="missing"):
        load_encoder(tmp_path / "absent.pt")


def test_embeddings_are_unit_vectors_and_short_partials_are_padded(encoder):
    speech = decode(DATA / "audio" / "speech-asterisk-allison.flac", 60).samples
    out = encoder.embed([speech[:16_000], speech[16_000:48_000]])
    assert out.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    assert encoder.embed([]).shape == (0, 256)


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


def _voices(centres: np.ndarray, who: list[int], spread: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return _unit(centres[who] + spread * rng.standard_normal((len(who), centres.shape[1])))


def test_clustering_finds_each_voice_and_numbers_them_by_first_appearance():
    centres = _unit(np.random.default_rng(1).standard_normal((3, 256)))
    who = [2, 2, 0, 1, 0, 2, 1, 1, 0]
    labels = cluster(_voices(centres, who, 0.03), same_speaker=0.75)
    # Same partition as the truth, labels in order of first appearance.
    assert labels.tolist() == [0, 0, 1, 2, 1, 0, 2, 2, 1]
    assert cluster(np.zeros((0, 256), np.float32), 0.75).tolist() == []


def test_diarize_numbers_speakers_by_speech_and_looks_twice_only_where_the_speaker_changes():
    centres = _unit(np.random.default_rng(2).standard_normal((2, 256)))
    vectors = _voices(centres, [0, 1, 1, 1, 0, 0], 0.02)
    voices = {i: WindowVoice(v, 3.0) for i, v in enumerate(vectors)}
    asked: list[list[int]] = []

    def ends(windows: list[int]) -> dict[int, float]:
        asked.append(windows)
        return {i: 0.1 if i == 1 else 0.9 for i in windows}  # window 1's two ends differ

    who = diarize(voices, SpeakerOptions(), ends)
    assert asked == [[0, 1, 3, 4]]  # only the windows on either side of a change
    assert who.overlap == {1}
    # Voice 0 speaks in windows 0, 4 and 5 (9 s), voice 1 in 2 and 3 (6 s); window 1 holds
    # both and is left without a speaker.
    assert who.speaker == {0: 0, 4: 0, 5: 0, 2: 1, 3: 1}
    assert set(who.embeddings) == {0, 1}
    assert float(who.embeddings[0] @ centres[0]) > 0.95 > float(who.embeddings[0] @ centres[1])
    # One voice throughout: no change, no second look.
    asked.clear()
    alone = diarize({i: WindowVoice(centres[0], 3.0) for i in range(4)}, SpeakerOptions(), ends)
    assert asked == [[]] and alone.speaker == dict.fromkeys(range(4), 0)


def _summary(*verdicts: str) -> Summary:
    return Summary(
        verdict="fake",
        score=0.9,
        max_score=0.9,
        mean_score=0.9,
        fake_chunk_ratio=1.0,
        threshold=0.5,
        speakers=[
            SpeakerSummary(speaker=i, seconds=8, share=0.5, score=0.5, verdict=v)  # type: ignore[arg-type]
            for i, v in enumerate(verdicts)
        ],
    )


def test_a_synthetic_speaker_that_sounds_like_an_enrolled_voice_is_an_impersonation():
    centres = _unit(np.random.default_rng(3).standard_normal((3, 256)))
    ceo, mum = uuid4(), uuid4()
    enrolled = [(ceo, "our CEO", centres[0]), (mum, "mum", centres[1])]
    speakers = {0: centres[0], 1: centres[2]}
    out = match_enrolled(_summary("fake", "real"), speakers, enrolled, threshold=0.8)
    assert out.speakers is not None
    assert out.speakers[0].enrolled_voice is not None
    assert out.speakers[0].enrolled_voice.name == "our CEO"
    assert out.speakers[1].enrolled_voice is None  # a stranger
    assert out.impersonation is not None
    assert (out.impersonation.voice_id, out.impersonation.speaker) == (ceo, 0)
    # The enrolled voice speaking for real is recognised, and no alert is raised.
    real = match_enrolled(_summary("real", "real"), speakers, enrolled, threshold=0.8)
    assert real.speakers is not None and real.speakers[0].enrolled_voice is not None
    assert real.impersonation is None
    # Nobody enrolled (any more), or nobody similar enough: nothing matches.
    assert match_enrolled(_summary("fake"), speakers, [], 0.8).impersonation is None
    cleared = match_enrolled(out, speakers, [], 0.8)
    assert cleared.impersonation is None and cleared.speakers is not None
    assert cleared.speakers[0].enrolled_voice is None
    far = match_enrolled(_summary("fake"), {0: centres[2]}, enrolled, 0.8)
    assert far.impersonation is None and far.speakers is not None
    assert far.speakers[0].enrolled_voice is None


def test_the_shipped_thresholds_are_the_ones_measured_in_the_report():
    """docs/speakers/report.json (``make speakers``) chose them; docs/speakers.md quotes it."""
    from realtone_core.voices import MATCH_THRESHOLD

    report = json.loads((DATA.parents[1] / "docs" / "speakers" / "report.json").read_text())
    shipped = SpeakerOptions()
    chosen = report["diarization"]["chosen"]
    assert (shipped.same_speaker, shipped.mixed_below) == (
        chosen["same_speaker"],
        chosen["mixed_below"],
    )
    assert report["enrolment"]["chosen_threshold"] == MATCH_THRESHOLD
    doc = (DATA.parents[1] / "docs" / "speakers.md").read_text()
    held = report["diarization"]["held_out"]
    assert f"{held['cluster_purity'] * 100:.1f} %" in doc
    assert f"{held['speaker_count_accuracy'] * 100:.1f} %" in doc
