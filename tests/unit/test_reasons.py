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
