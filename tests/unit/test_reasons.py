"""Why a window cannot be judged: each reason on generated and on real audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from realtone_scorer.audio import TARGET_RATE, decode
from realtone_scorer.options import ScoringOptions
from realtone_scorer.reasons import file_reason, window_reason
from realtone_scorer.speech import FRAME, speech_probabilities
from realtone_scorer.windows import plan_windows
from tests.audio import speechlike

AUDIO = Path(__file__).resolve().parents[1] / "data" / "audio"
OPTIONS = ScoringOptions()


def reasons_of(samples: np.ndarray) -> list[str | None]:
    probs = speech_probabilities(samples.astype(np.float32))
    return [
        window_reason(
            samples[w.start : w.end],
            w.voiced,
            probs[w.start // FRAME : -(-w.end // FRAME)],
            OPTIONS,
        )
        for w in plan_windows(samples, TARGET_RATE, OPTIONS)
    ]


def real(name: str) -> np.ndarray:
    return decode(AUDIO / name, 60).samples


def test_real_speech_is_judged():
    assert reasons_of(real("speech-asterisk-allison.flac")) == [None, None, None]


def test_real_music_is_music_or_noise():
    assert set(reasons_of(real("music-macroform-cold_day-excerpt.flac"))) == {"music_or_noise"}


@pytest.mark.parametrize(
    "make",
    [
        lambda t: 0.3 * np.sin(2 * np.pi * 1000 * t),  # a tone
        lambda t: 0.2 * np.sin(2 * np.pi * 50 * t) + 0.05 * np.sin(2 * np.pi * 150 * t),  # hum
        lambda t: 0.1 * np.random.default_rng(1).standard_normal(len(t)),  # noise
    ],
    ids=["tone", "hum", "noise"],
)
def test_generated_sound_without_speech_is_music_or_noise(make):
    t = np.arange(TARGET_RATE * 8) / TARGET_RATE
    assert set(reasons_of(make(t))) == {"music_or_noise"}


def test_heavily_clipped_speech_is_clipped_and_quiet_audio_is_no_speech():
    speech = real("speech-asterisk-allison.flac")
    clipped = np.clip(speech / np.abs(speech).max() * 8, -1, 1)
    assert set(reasons_of(clipped)) == {"clipped"}
    assert set(reasons_of(speech * 1e-4)) == {"no_speech"}


def test_a_breath_of_speech_is_too_short():
    speech = real("speech-asterisk-allison.flac")
    quiet_room = 0.003 * np.random.default_rng(2).standard_normal(TARGET_RATE * 4)
    window = quiet_room.copy()
    window[: TARGET_RATE // 4] += speech[TARGET_RATE : TARGET_RATE + TARGET_RATE // 4]
    assert reasons_of(window) == ["too_short"]


def test_the_file_reason_is_the_commonest_only_when_nothing_was_judged():
    assert file_reason(["music_or_noise", "no_speech", "music_or_noise"]) == "music_or_noise"
    assert file_reason(["no_speech", None]) is None
    assert file_reason([]) is None


def test_generated_speechlike_audio_keeps_being_scored_by_energy_rules():
    # The unit tests' speech-like generator is not speech to the VAD: windows of it say so.
    x = speechlike(8.0, TARGET_RATE, seed=3)[:, 0]
    assert all(r in (None, "music_or_noise") for r in reasons_of(x))


def _whole_file_probabilities(samples: np.ndarray) -> np.ndarray:
    """The VAD run over a whole file at once: every frame with its predecessor's context,
    in blocks of speech.BLOCK frames with the LSTM state carried across."""
    from realtone_scorer.speech import BLOCK, CONTEXT, _session

    count = -(-len(samples) // FRAME)
    flat = np.zeros(count * FRAME, np.float32)
    flat[: len(samples)] = samples
    frames = flat.reshape(count, FRAME)
    contexts = np.zeros((count, CONTEXT), np.float32)
    contexts[1:] = frames[:-1, -CONTEXT:]
    inputs = np.concatenate([contexts, frames], axis=1)
    h = c = np.zeros((1, 1, 128), np.float32)
    out = []
    for first in range(0, count, BLOCK):
        probs, h, c = _session().run(None, {"input": inputs[first : first + BLOCK], "h": h, "c": c})
        out.append(probs.reshape(-1))
    return np.concatenate(out)


def test_speech_frames_asked_bit_by_bit_equal_the_whole_file_at_once():
    from realtone_scorer.speech import SpeechFrames

    samples = np.concatenate([real("speech-asterisk-allison.flac")] * 12)  # > 2 blocks
    whole = _whole_file_probabilities(samples)
    frames = SpeechFrames(samples)
    rng = np.random.default_rng(0)
    asked = 0
    while asked < len(samples):
        asked = min(len(samples), asked + int(rng.integers(1, 5 * TARGET_RATE)))
        got = frames.until(asked)
        assert len(got) >= -(-asked // FRAME)
    np.testing.assert_array_equal(frames.until(len(samples)), whole)


def test_a_long_files_first_windows_come_before_the_vad_has_covered_it(monkeypatch):
    from realtone_core.models import ModelCard
    from realtone_scorer import pipeline, speech
    from realtone_scorer.checkpoints import build_dev_tiny
    from realtone_scorer.detector import Detector

    blocks: list[int] = []
    block = speech.SpeechFrames._block

    def counted(self: speech.SpeechFrames) -> None:
        blocks.append(self._done)
        block(self)

    monkeypatch.setattr(speech.SpeechFrames, "_block", counted)
    samples = np.concatenate([real("speech-asterisk-allison.flac")] * 40)  # ~7 minutes
    card = ModelCard(name="t", version="1", sha256="0" * 64, trained=False)
    detector = Detector.prepare(build_dev_tiny(), card, "cpu", "fp32")
    seen: list[tuple[int, int]] = []
    scored = pipeline.score_samples(
        samples, OPTIONS, detector, progress=lambda c, done, total: seen.append((done, len(blocks)))
    )
    total_blocks = len(blocks)
    assert total_blocks > 3 and seen
    first_done, blocks_then = seen[0]
    # The first batch (8 windows, 32 s) needed only the VAD blocks (~16 s each) covering it.
    assert first_done == 8 and blocks_then == -(-8 * 4 * TARGET_RATE // (speech.BLOCK * FRAME))
    assert [c.reason for c in scored.chunks] == reasons_of(samples)
