"""The corpus builder: the channel chain's properties and the ``--quick`` build's outputs."""

from __future__ import annotations

import csv
import inspect
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from detector import channels, corpus, resynthesis, sources
from detector.channels import RATE, Channel
from realtone_scorer.protocol import read_protocol
from tests.audio import speechlike

ALL_CODECS = channels.TRAIN_CODECS + channels.HELD_OUT_CODECS


def voice(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    return channels.prepare(speechlike(seconds, RATE, seed=seed)[:, 0], RATE)


def test_prepare_makes_16k_mono_float() -> None:
    stereo = speechlike(1.5, 44_100, channels=2)
    y = channels.prepare(stereo, 44_100)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 1.5 * RATE) <= 2


@pytest.mark.parametrize("codec", channels.usable(ALL_CODECS))
def test_render_output_is_16k_mono_float_in_range(codec: str) -> None:
    rng = np.random.default_rng(1)
    for band in (0, 8000, 12000):
        channel = Channel(band=band, codec=codec, setting=24 if codec != "vorbis" else 4)
        y, _ = channels.render(voice(), channel, rng)
        assert y is not None and y.dtype == np.float32 and y.ndim == 1
        assert np.all(np.isfinite(y)) and np.max(np.abs(y)) <= 1.0


@pytest.mark.parametrize("target", [-32.0, -25.0, -18.0])
def test_loudness_target_reached_within_1_db(target: float) -> None:
    rng = np.random.default_rng(2)
    for codec in channels.usable(channels.TRAIN_CODECS):
        y, guarded = channels.render(voice(), Channel(codec=codec, target_db=target), rng)
        assert y is not None and not guarded
        assert abs(channels.active_level_db(y) - target) < 1.0


def test_peak_guard_keeps_clicks_below_full_scale() -> None:
    x = 0.001 * voice()
    x[RATE // 2] = 0.9  # one click, 60 dB above the speech
    y, guarded = channels.normalise(x, -18.0)
    assert guarded and np.max(np.abs(y)) <= channels.PEAK + 1e-6


def test_leading_and_trailing_silence_are_trimmed() -> None:
    rng = np.random.default_rng(3)
    speech = voice(2.0)
    hiss = 1e-4 * rng.standard_normal(RATE).astype(np.float32)  # -80 dB "silence"
    padded = np.concatenate([np.zeros(RATE, np.float32), hiss, speech, hiss])
    y, _ = channels.render(padded, Channel(), rng)
    assert y is not None
    # the speech and a fixed margin of the hiss on each side; none of the digital zeros
    expected = len(speech) + 2 * int(channels.TRIM_MARGIN_S * RATE)
    assert abs(len(y) - expected) <= 0.02 * RATE


def test_clips_under_a_second_after_trimming_are_dropped() -> None:
    short = np.concatenate([np.zeros(RATE, np.float32), voice(0.6), np.zeros(RATE, np.float32)])
    y, _ = channels.render(short, Channel(), np.random.default_rng(0))
    assert y is None


@pytest.mark.parametrize("codec", ALL_CODECS)
def test_each_codec_round_trip_works_or_says_why_not(codec: str) -> None:
    reason = channels.codec_status()[codec]
    if reason:
        pytest.skip(f"{codec}: {reason}")
    x = voice(2.0)
    setting = {"mp3": 32, "opus": 16, "vorbis": 5}.get(codec, 0)
    y = channels.roundtrip(x, codec, setting)
    assert len(y) == len(x) and y.dtype == np.float32
    assert np.all(np.isfinite(y))
    # the speech is still there: level within 3 dB, envelope follows the input
    assert abs(channels.active_level_db(y) - channels.active_level_db(x)) < 3.0
    env_x, env_y = channels.frame_db(x), channels.frame_db(y)
    assert np.corrcoef(env_x, env_y)[0, 1] > 0.8


def test_gsm_and_telephone_band_remove_the_upper_band() -> None:
    x = np.random.default_rng(4).standard_normal(RATE).astype(np.float32) * 0.1
    assert channels.rolloff_hz(channels.band_limit(x, 8000)) < 4100
    if channels.codec_status()["gsm"] is None:
        assert channels.rolloff_hz(channels.roundtrip(x, "gsm")) < 4100


def test_an_unavailable_codec_raises_with_its_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(channels, "codec_status", lambda: {"none": None, "gsm": "no sox here"})
    assert channels.usable(("none", "gsm")) == ("none",)
    with pytest.raises(RuntimeError, match="no sox here"):
        channels.roundtrip(voice(), "gsm")


def test_chain_is_deterministic_for_a_seed() -> None:
    x = voice(2.5)

    def run(seed: int) -> tuple[Channel, np.ndarray]:
        rng = corpus.item_rng(seed, "bf-some-file")
        channel = channels.sample_channel(rng, channels.usable(channels.TRAIN_CODECS))
        y, _ = channels.render(x, channel, rng)
        assert y is not None
        return channel, y

    (c1, y1), (c2, y2) = run(7), run(7)
    assert c1 == c2 and np.array_equal(y1, y2)
    draws = {run(seed)[0] for seed in range(6)}
    assert len(draws) > 1


def test_both_classes_draw_from_the_same_channel_distribution() -> None:
    assert "label" not in inspect.signature(channels.sample_channel).parameters
    codecs = channels.TRAIN_CODECS

    def draws(prefix: str) -> list[Channel]:
        return [
            channels.sample_channel(corpus.item_rng(0, f"{prefix}-{i}"), codecs)
            for i in range(3000)
        ]

    bona, spoof = draws("bf-asterisk"), draws("sp-piper")
    for field in ("codec", "band"):
        a = Counter(getattr(c, field) for c in bona)
        b = Counter(getattr(c, field) for c in spoof)
        for value in set(a) | set(b):
            assert abs(a[value] - b[value]) / 3000 < 0.04, (field, value)
    assert abs(np.mean([c.target_db for c in bona]) - np.mean([c.target_db for c in spoof])) < 0.5


def test_emulation_plan_equalises_native_channels() -> None:
    def real(native: str, seconds: float, n: int) -> sources.RealSource:
        return sources.RealSource(f"k{n}", (), f"spk{n}", "xx", "-", "-", native, seconds)

    found = [(real("g722", 60, 0), "train"), (real("clean", 40, 1), "train")]
    text = sources.Text("x" * 150, "t")
    flite = sources.VOICES[1]
    tts = [
        corpus.TtsJob(flite, tuple((sources.Utterance(f"u{i}", text), "train") for i in range(10)))
    ]
    plan = corpus.plan_emulation(found, tts, (("codec2", 0.2),))
    bona, spoof = plan["train"]["bonafide"], plan["train"]["spoof"]
    # bona fide: 60 s G.722 + 40 s clean; spoof: clean TTS + 20 s of 8-kHz Codec 2 copies
    clean_tts = 10 * corpus._estimate_seconds(text.text, {}, flite.engine)
    spoof_total = clean_tts + 20
    assert spoof["g722"] > 0 and "8k" not in spoof
    assert bona["8k"] > 0 and "g722" not in bona
    # after emulation both classes carry 60 % G.722 and the same share of 8 kHz
    assert abs(spoof["g722"] * clean_tts / spoof_total - 0.6) < 0.01
    assert abs(bona["8k"] * 40 / 100 - 20 / spoof_total) < 0.01


def test_split_utterances_cuts_long_recordings_at_pauses() -> None:
    pause = np.zeros(RATE // 2, np.float32)
    x = np.concatenate([voice(5, 1), pause, voice(5, 2), pause, voice(5, 3)])
    pieces = sources.split_utterances(x)
    assert len(pieces) >= 2
    assert all(len(p) <= 12 * RATE for p in pieces)
    assert sum(len(p) for p in pieces) == len(x)


COPY_GENERATORS = {"griffinlim": resynthesis.griffinlim_copy, "lpc": resynthesis.lpc_copy}


@pytest.mark.parametrize("family", sorted(COPY_GENERATORS))
def test_numpy_copies_are_finite_same_length_changed_and_seeded(family: str) -> None:
    copy = COPY_GENERATORS[family]
    x = voice(2.5, seed=5)
    y, generator = copy(x, np.random.default_rng(11))
    assert generator.startswith(family + "-")
    assert y.dtype == np.float32 and y.shape == x.shape  # 16 kHz in, 16 kHz out
    assert np.all(np.isfinite(y))
    # the same speech at about the same level, on the same time line, but not the input
    assert abs(channels.active_level_db(y) - channels.active_level_db(x)) < 6.0
    assert np.corrcoef(channels.frame_db(x), channels.frame_db(y))[0, 1] > 0.8
    assert np.sum((y - x) ** 2) > 0.05 * np.sum(x**2)
    again, generator_again = copy(x, np.random.default_rng(11))
    assert np.array_equal(y, again) and generator == generator_again
    other, _ = copy(x, np.random.default_rng(12))
    assert not np.array_equal(y, other)


@pytest.mark.parametrize(
    ("family", "variants"),
    [
        ("griffinlim", ("-stft-", "-mel80-", "-smooth", "-pinv-", "-nnmu-")),
        ("lpc", ("-residual", "-envelope")),
    ],
)
def test_numpy_copies_draw_every_variant(family: str, variants: tuple[str, ...]) -> None:
    x = voice(1.2, seed=6)
    names = {COPY_GENERATORS[family](x, np.random.default_rng(seed))[1] for seed in range(16)}
    for variant in variants:
        assert any(variant in name for name in names), (variant, names)


def test_slaney_mel_filters_have_unit_area_and_slaney_scale() -> None:
    assert float(resynthesis.hz_to_mel(1000.0)) == pytest.approx(15.0)
    hz = np.array([0.0, 200.0, 1000.0, 3000.0, 8000.0])
    assert np.allclose(resynthesis.mel_to_hz(resynthesis.hz_to_mel(hz)), hz)
    weights = resynthesis.mel_filters(RATE, 1024, 80, 0.0, 8000.0)
    assert weights.shape == (80, 513) and np.all(weights >= 0)
    area = weights.sum(axis=1) * RATE / 1024  # triangles of area 1 (Slaney normalisation)
    assert np.allclose(area[5:-1], 1.0, atol=0.05)


def test_levinson_solves_the_normal_equations() -> None:
    x = np.random.default_rng(7).standard_normal((3, 400))
    order = 12
    r = np.stack([[np.dot(row[: len(row) - k], row[k:]) for k in range(order + 1)] for row in x])
    a, error = resynthesis.levinson(r, order)
    for i in range(3):
        toeplitz = r[i, np.abs(np.subtract.outer(np.arange(order), np.arange(order)))]
        assert np.allclose(a[i, 1:], np.linalg.solve(toeplitz, -r[i, 1:]))
        assert error[i] == pytest.approx(r[i, 0] + a[i, 1:] @ r[i, 1:])


def test_pitch_tracker_follows_a_pulse_train_and_finds_noise_unvoiced() -> None:
    rng = np.random.default_rng(8)
    pulses = np.zeros(RATE)
    pulses[:: RATE // 160] = 1.0  # 160 Hz
    voiced = np.convolve(pulses, np.exp(-np.arange(60) / 8.0) * np.cos(np.arange(60)))[:RATE]
    x = np.concatenate([voiced, 0.3 * rng.standard_normal(RATE)])
    f0 = resynthesis.track_pitch(x)
    first, second = f0[10:90], f0[110:190]
    assert np.all(np.abs(first - 160) < 3)
    assert np.mean(second > 0) < 0.1


@pytest.fixture(scope="module")
def quick_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    assert corpus.main(["--out", str(out), "--quick", "--seed", "3", "--workers", "1"]) == 0
    return out


def _manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_quick_build_writes_manifest_audio_and_json(quick_corpus: Path) -> None:
    rows = _manifest(quick_corpus)
    assert list(rows[0]) == corpus.COLUMNS
    assert {r["label"] for r in rows} == {"bonafide", "spoof"}
    for r in rows[:6]:
        info = sf.info(str(quick_corpus / r["path"]))
        assert info.samplerate == RATE and info.channels == 1 and info.format == "FLAC"
        assert abs(info.duration - float(r["seconds"])) < 0.01
    summary = json.loads((quick_corpus / "summary.json").read_text())
    assert summary["totals"]["bonafide"]["minutes"] > 0
    assert summary["totals"]["spoof"]["minutes"] > 0
    splits = json.loads((quick_corpus / "splits.json").read_text())
    assert set(splits["splits"]) == set(corpus.SPLITS)


def test_quick_build_holds_out_whole_speakers(quick_corpus: Path) -> None:
    rows = _manifest(quick_corpus)
    where: dict[str, set[str]] = {}
    for r in rows:
        if r["split"] != "test_channel":
            where.setdefault(r["speaker"], set()).add(r["split"])
    assert all(len(s) == 1 for s in where.values()), where
    assert {next(iter(s)) for s in where.values()} == {"train", "dev", "test"}
    # copy-synthesis spoofs sit with their source recording's speaker
    spoof_speakers = {r["speaker"] for r in rows if r["label"] == "spoof"}
    assert spoof_speakers <= {r["speaker"] for r in rows if r["label"] == "bonafide"}


def test_held_out_channels_only_in_test_channel(quick_corpus: Path) -> None:
    rows = _manifest(quick_corpus)
    held = tuple(f">{c}" for c in channels.HELD_OUT_CODECS)
    for r in rows:
        in_held = any(h in r["channel"] for h in held)
        assert in_held == (r["split"] == "test_channel"), r
    test_speakers = {r["speaker"] for r in rows if r["split"] == "test"}
    assert {r["speaker"] for r in rows if r["split"] == "test_channel"} <= test_speakers


def test_protocols_are_read_by_the_evaluator(quick_corpus: Path) -> None:
    for split in ("train", "dev", "test"):
        items = read_protocol(quick_corpus / f"protocol_{split}.csv")
        assert {item.spoof for item in items} == {True, False}
        assert all(item.path.exists() for item in items)
        assert {item.attack for item in items if item.spoof} <= set(corpus.FAMILIES)


def test_quick_build_has_the_numpy_copies_on_their_sources_split(quick_corpus: Path) -> None:
    rows = _manifest(quick_corpus)
    home = {r["speaker"]: r["split"] for r in rows if r["label"] == "bonafide"}
    home.update({r["speaker"]: r["split"] for r in rows if r["split"] != "test_channel"})
    for family in ("griffinlim", "lpc"):
        assert family in corpus.FAMILIES
        copies = [r for r in rows if r["family"] == family]
        assert {"train", "dev", "test"} <= {r["split"] for r in copies}
        for r in copies:
            assert r["label"] == "spoof" and r["generator"].startswith(family + "-")
            expected = "test" if r["split"] == "test_channel" else r["split"]
            assert home[r["speaker"]] == expected, r
            assert r["origin"].startswith(f"{family} copy of ")
