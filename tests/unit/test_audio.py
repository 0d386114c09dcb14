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


@pytest.mark.parametrize(
    ("container", "codec", "sniffed"),
    [("ipod", "aac", "mp4"), ("mp4", "aac", "mp4"), ("webm", "libopus", "webm")],
)
def test_browser_and_phone_formats_decode_with_pyav(tmp_path, container, codec, sniffed):
    from tests.audio import encode_pyav

    rate = 48_000
    x = speechlike(3.0, rate, channels=2)
    audio = decode(write(tmp_path, encode_pyav(x, rate, container, codec)), 60)
    assert audio.container == sniffed
    assert abs(audio.duration_seconds - 3.0) < 0.05
    # The decoded signal lines up with the original (priming samples trimmed).
    ref = decode(write(tmp_path, encode(x, rate, "WAV", "FLOAT"), "ref.wav"), 60).samples
    n = 16_000
    lags = [float(np.dot(audio.samples[k : k + n], ref[:n])) for k in range(0, 400)]
    assert int(np.argmax(lags)) < 16  # within 1 ms


@pytest.mark.parametrize(("rate", "channels"), [(8_000, 1), (96_000, 2), (192_000, 1), (44_100, 8)])
def test_any_rate_and_channel_count(tmp_path, rate, channels):
    x = speechlike(2.0, rate, channels=channels)
    audio = decode(write(tmp_path, encode(x, rate, "WAV", "PCM_24")), 60)
    assert audio.channels == channels
    assert len(audio.samples) == pytest.approx(2 * TARGET_RATE, abs=2)


def test_a_long_file_is_refused_from_its_header(tmp_path):
    # Ten minutes of silence: a few KB of FLAC, refused before a sample is decoded.
    rate = 8_000
    path = tmp_path / "long.flac"
    import soundfile as sf

    with sf.SoundFile(str(path), "w", rate, 1, format="FLAC", subtype="PCM_16") as f:
        block = np.zeros(rate * 60, np.float32)
        for _ in range(10):
            f.write(block)
    assert path.stat().st_size < 200_000
    with pytest.raises(AudioError) as err:
        decode(path, max_duration_seconds=120)
    assert err.value.code == "too_long"


def test_a_stream_longer_than_its_header_says_is_cut_off(tmp_path):
    from realtone_scorer.audio import _Collector

    collector = _Collector(48_000, max_samples=TARGET_RATE * 2, expected=TARGET_RATE)
    collector.add(np.zeros(48_000, np.float32))
    with pytest.raises(AudioError) as err:
        for _ in range(5):
            collector.add(np.zeros(48_000, np.float32))
    assert err.value.code == "too_long"


def test_decoding_memory_is_the_output_not_the_source(tmp_path):
    """Decode 10 minutes of 44.1 kHz stereo in a fresh process: the peak grows by about the
    16 kHz mono output (38 MB), not by the decoded source (212 MB as float32)."""
    import subprocess
    import sys

    import soundfile as sf

    path = tmp_path / "ten-minutes.wav"
    rate = 44_100
    block = (speechlike(60.0, rate, channels=2) * 0.5).astype(np.float32)
    with sf.SoundFile(str(path), "w", rate, 2, format="WAV", subtype="PCM_16") as f:
        for _ in range(10):
            f.write(block)
    # VmHWM (peak resident memory) starts afresh in the new process, unlike ru_maxrss.
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from realtone_scorer.audio import decode\n"
        "def hwm():\n"
        "    return int(open('/proc/self/status').read().split('VmHWM:')[1].split()[0]) / 1024\n"
        "before = hwm()\n"
        "audio = decode(Path(sys.argv[1]), 3600)\n"
        "print(len(audio.samples), hwm() - before)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    samples, growth_mb = out.stdout.split()
    assert int(samples) == pytest.approx(600 * TARGET_RATE, abs=10)
    output_mb = 600 * TARGET_RATE * 4 / 2**20
    print(f"\npeak RSS growth {float(growth_mb):.0f} MB for {output_mb:.0f} MB of output")
    assert float(growth_mb) < output_mb + 25


@pytest.mark.parametrize(
    ("rate", "accepted"), [(7_999, False), (8_000, True), (384_000, True), (384_001, False)]
)
def test_sample_rates_outside_8_to_384_khz_are_refused_before_decoding(tmp_path, rate, accepted):
    from tests.hostile import _pcm16, _wav_header

    samples = speechlike(1.0, 16_000)[:, 0]
    data = _wav_header(rate, 1, 16, 2 * len(samples)) + _pcm16(samples)
    charged: list[float] = []
    if accepted:
        decode(write(tmp_path, data), 1800, charged.append)
        assert charged
    else:
        with pytest.raises(AudioError) as err:
            decode(write(tmp_path, data), 1800, charged.append)
        assert err.value.code == "unsupported_sample_rate" and charged == []


def test_the_length_a_header_declares_is_charged_before_decoding(tmp_path):
    charged: list[float] = []
    decoded_when_charged: list[bool] = []

    def charge(seconds: float) -> None:
        charged.append(seconds)
        decoded_when_charged.append(len(charged) > 1)

    data = encode(speechlike(25.0, 44_100), 44_100, "WAV", "PCM_16")
    audio = decode(write(tmp_path, data), 1800, charge)
    assert charged[0] == pytest.approx(25.0) and decoded_when_charged[0] is False
    assert max(charged) == pytest.approx(audio.duration_seconds, abs=0.01)


def test_without_a_length_in_the_header_audio_is_charged_as_it_decodes():
    # What a decoder does when the header has no length (MediaRecorder's WebM has none).
    from realtone_scorer.audio import _Collector

    charged: list[float] = []
    collector = _Collector(TARGET_RATE, 1800 * TARGET_RATE, 0, charged.append)
    for _ in range(25):
        collector.add(np.full(TARGET_RATE, 0.1, np.float32))
    samples = collector.result()
    assert charged == [10.0, 20.0, 25.0] and len(samples) == 25 * TARGET_RATE


def test_a_refused_charge_stops_decoding(tmp_path):
    def refuse(seconds: float) -> None:
        raise AudioError("quota_exceeded", f"{seconds} is too many")  # type: ignore[arg-type]

    data = encode(speechlike(5.0), TARGET_RATE, "WAV", "PCM_16")
    with pytest.raises(AudioError) as err:
        decode(write(tmp_path, data), 1800, refuse)
    assert err.value.code == "quota_exceeded"
