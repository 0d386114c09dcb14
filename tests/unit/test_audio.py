from pathlib import Path

import numpy as np
import pytest

from realtone_core.errors import AudioError
from realtone_scorer.audio import TARGET_RATE, decode
from tests.audio import JUNK, encode, speechlike


def write(tmp_path: Path, data: bytes, name: str = "upload") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("fmt", "subtype", "container"),
    [
        ("WAV", "PCM_16", "wav"),
        ("WAV", "PCM_24", "wav"),
        ("WAV", "FLOAT", "wav"),
        ("FLAC", "PCM_16", "flac"),
        ("OGG", "VORBIS", "ogg"),
        ("OGG", "OPUS", "ogg"),
        ("MP3", "MPEG_LAYER_III", "mp3"),
    ],
)
def test_each_container_decodes_to_16k_mono(tmp_path, fmt, subtype, container):
    rate = 48_000 if subtype == "OPUS" else 44_100
    data = encode(speechlike(3.0, rate, channels=2), rate, fmt, subtype)
    audio = decode(write(tmp_path, data), max_duration_seconds=60)
    assert audio.container == container
    assert audio.channels == 2
    assert audio.samples.dtype == np.float32
    # Lossy codecs add a little padding; the length is 3 s at 16 kHz within a few ms.
    assert abs(audio.duration_seconds - 3.0) < 0.06
    assert np.abs(audio.samples).max() <= 1.0
    assert np.sqrt(np.mean(audio.samples**2)) > 0.05


def test_container_is_sniffed_not_taken_from_the_name(tmp_path):
    mp3 = encode(speechlike(2.0, 44_100), 44_100, "MP3", "MPEG_LAYER_III")
    audio = decode(write(tmp_path, mp3, "looks-like.wav"), 60)
    assert audio.container == "mp3"


def test_resampling_keeps_the_signal(tmp_path):
    rate = 44_100
    t = np.arange(rate * 2) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    audio = decode(write(tmp_path, encode(tone, rate, "WAV", "FLOAT")), 60)
    assert len(audio.samples) == 2 * TARGET_RATE
    spectrum = np.abs(np.fft.rfft(audio.samples))
    peak_hz = np.argmax(spectrum) * TARGET_RATE / len(audio.samples)
    assert abs(peak_hz - 1000) < 2


def test_junk_is_corrupt_and_other_files_unsupported(tmp_path):
    with pytest.raises(AudioError) as junk:
        decode(write(tmp_path, JUNK, "junk.wav"), 60)
    assert junk.value.code == "corrupt_audio"
    with pytest.raises(AudioError) as pdf:
        decode(write(tmp_path, b"%PDF-1.7\n" + JUNK, "doc.wav"), 60)
    assert pdf.value.code == "unsupported_format"
    with pytest.raises(AudioError) as empty:
        decode(write(tmp_path, b""), 60)
    assert empty.value.code == "empty_audio"


def test_truncated_header_is_corrupt(tmp_path):
    wav = encode(speechlike(1.0), 16_000, "WAV", "PCM_16")
    with pytest.raises(AudioError) as err:
        decode(write(tmp_path, wav[:30]), 60)
    assert err.value.code == "corrupt_audio"


def test_too_long_is_refused_before_decoding_it_all(tmp_path):
    wav = encode(speechlike(5.0), 16_000, "WAV", "PCM_16")
    with pytest.raises(AudioError) as err:
        decode(write(tmp_path, wav), max_duration_seconds=2)
    assert err.value.code == "too_long"


def test_nan_and_out_of_range_floats_are_sanitised(tmp_path):
    x = speechlike(1.0)
    x[100:200] = np.nan
    x[300:400] = np.inf
    x[500:600] = 7.0
    audio = decode(write(tmp_path, encode(x, 16_000, "WAV", "FLOAT")), 60)
    assert np.isfinite(audio.samples).all()
    assert np.abs(audio.samples).max() <= 1.0
