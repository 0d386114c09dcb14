"""A corpus of hostile and unusual audio, generated (not checked in): (name, bytes, expected).

``expected`` is ``"completed"`` or the ``error.code`` the analysis must fail with.
"""

from __future__ import annotations

import io
import struct

import numpy as np
import soundfile as sf

from tests.audio import JUNK, encode, encode_pyav, speechlike

RATE = 16_000


def _wav_header(
    rate: int, channels: int, bits: int, data_bytes: int, riff_size: int | None = None
) -> bytes:
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    riff = riff_size if riff_size is not None else 36 + data_bytes
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def _pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def _silence(minutes: float, fmt: str, subtype: str, rate: int = 8_000) -> bytes:
    """Minutes of silence, written a minute at a time: a few KB that decode to a lot."""
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, 1, format=fmt, subtype=subtype) as f:
        block = np.zeros(rate * 60, np.float32)
        for _ in range(int(minutes)):
            f.write(block)
    return buf.getvalue()


def amplified_wav(rate: int = 2, frames: int = 3_500, seed: int = 1) -> bytes:
    """A 7 KB WAV whose header says ``rate`` Hz: loud noise that, resampled to 16 kHz, is
    ``frames / rate`` seconds of voiced audio (1,750 s by default)."""
    noise = np.random.default_rng(seed).uniform(-0.8, 0.8, frames)
    return _wav_header(rate, 1, 16, 2 * frames) + _pcm16(noise)


def corpus() -> list[tuple[str, bytes, str]]:
    speech = speechlike(3.0, 44_100, channels=2)
    wav = encode(speech, 44_100, "WAV", "PCM_16")
    flac = encode(speech, 44_100, "FLAC", "PCM_16")
    ogg = encode(speech, 44_100, "OGG", "VORBIS")
    opus = encode(speechlike(3.0, 48_000), 48_000, "OGG", "OPUS")
    mp3 = encode(speech, 44_100, "MP3", "MPEG_LAYER_III")
    m4a = encode_pyav(speechlike(3.0, 48_000), 48_000, "ipod", "aac")
    webm = encode_pyav(speechlike(3.0, 48_000), 48_000, "webm", "libopus")
    adts = encode_pyav(speechlike(3.0, 48_000), 48_000, "adts", "aac")
    mono = speechlike(3.0)[:, 0]
    dc = speechlike(3.0) * 0.3 + 0.5
    loud = np.clip(speechlike(3.0) * 20, -1, 1)
    nan = speechlike(3.0).copy()
    nan[::7] = np.nan
    nan[::11] = np.inf
    cases: list[tuple[str, bytes, str]] = [
        ("zero bytes", b"", "empty_audio"),
        ("one byte", b"\x00", "corrupt_audio"),
        ("text file", b"hello, this is not audio\n" * 100, "corrupt_audio"),
        ("random bytes", JUNK, "corrupt_audio"),
        ("RIFF/WAVE magic + junk", b"RIFF\xff\xff\x00\x00WAVE" + JUNK, "corrupt_audio"),
        ("fLaC magic + junk", b"fLaC" + JUNK, "corrupt_audio"),
        ("OggS magic + junk", b"OggS" + JUNK, "corrupt_audio"),
        ("ID3 magic + junk", b"ID3\x04\x00\x00\x00\x00\x00\x00" + JUNK, "corrupt_audio"),
        ("ftyp magic + junk", b"\x00\x00\x00\x20ftypM4A " + JUNK, "corrupt_audio"),
        ("EBML magic + junk", b"\x1a\x45\xdf\xa3" + JUNK, "corrupt_audio"),
        ("WAV truncated in the header", wav[:30], "corrupt_audio"),
        ("WAV truncated in the data", wav[: len(wav) // 2], "completed"),
        ("FLAC truncated to its header", flac[:60], "corrupt_audio"),
        ("FLAC truncated in the data", flac[: len(flac) // 2], "completed"),
        ("OGG Vorbis truncated", ogg[:200], "corrupt_audio"),
        ("OGG Opus truncated", opus[:100], "corrupt_audio"),
        ("MP3 truncated to one frame", mp3[:300], "corrupt_audio"),
        ("M4A truncated (no index)", m4a[:400], "corrupt_audio"),
        ("WebM truncated", webm[:60], "corrupt_audio"),
        ("WAV with no frames", _wav_header(RATE, 1, 16, 0), "empty_audio"),
        (
            "WAV header claims more data than there is",
            _wav_header(RATE, 1, 16, 10**9) + _pcm16(mono),
            "completed",
        ),
        (
            "WAV header claims less data than there is",
            _wav_header(RATE, 1, 16, 2 * 8_000) + _pcm16(mono),
            "completed",
        ),
        (
            "WAV header with a wrong RIFF size",
            _wav_header(RATE, 1, 16, len(_pcm16(mono)), riff_size=4) + _pcm16(mono),
            "completed",
        ),
        (
            "WAV claiming 0 Hz",
            _wav_header(0, 1, 16, len(_pcm16(mono))) + _pcm16(mono),
            "corrupt_audio",
        ),
        (
            "WAV claiming 1 Hz (13 hours)",
            _wav_header(1, 1, 16, len(_pcm16(mono))) + _pcm16(mono),
            "unsupported_sample_rate",
        ),
        # 7 KB that resample to 29 minutes: refused from the header, never decoded.
        ("WAV claiming 2 Hz (amplified)", amplified_wav(), "unsupported_sample_rate"),
        (
            "WAV claiming 768 kHz",
            _wav_header(768_000, 1, 16, len(_pcm16(mono))) + _pcm16(mono),
            "unsupported_sample_rate",
        ),
        (
            "WAV claiming 0 channels",
            _wav_header(RATE, 0, 16, len(_pcm16(mono))) + _pcm16(mono),
            "corrupt_audio",
        ),
        # libsndfile reads an odd bit depth as the next whole byte: odd audio, not an error.
        (
            "WAV claiming 7 bits per sample",
            _wav_header(RATE, 1, 7, len(_pcm16(mono))) + _pcm16(mono),
            "completed",
        ),
        ("MP3 named .wav", mp3, "completed"),
        ("NaN and Inf in a float WAV", encode(nan, RATE, "WAV", "FLOAT"), "completed"),
        (
            "8 channels",
            encode(speechlike(2.0, 44_100, channels=8), 44_100, "WAV", "PCM_16"),
            "completed",
        ),
        ("192 kHz", encode(speechlike(2.0, 192_000), 192_000, "WAV", "PCM_24"), "completed"),
        ("8 kHz", encode(speechlike(2.0, 8_000), 8_000, "WAV", "PCM_16"), "completed"),
        ("8-bit unsigned WAV", encode(speechlike(2.0), RATE, "WAV", "PCM_U8"), "completed"),
        ("32-bit int WAV", encode(speechlike(2.0), RATE, "WAV", "PCM_32"), "completed"),
        ("64-bit float WAV", encode(speechlike(2.0), RATE, "WAV", "DOUBLE"), "completed"),
        ("0.3 seconds", encode(speechlike(0.3), RATE, "WAV", "PCM_16"), "too_short"),
        ("exactly 0.5 seconds", encode(speechlike(0.5), RATE, "WAV", "PCM_16"), "completed"),
        ("31 minutes (FLAC)", _silence(31, "FLAC", "PCM_16"), "too_long"),
        (
            "pure digital silence",
            encode(np.zeros(RATE * 3, np.float32), RATE, "WAV", "PCM_16"),
            "empty_audio",
        ),
        (
            "near-silence (inconclusive)",
            encode(np.full(RATE * 3, 1e-4, np.float32), RATE, "WAV", "FLOAT"),
            "completed",
        ),
        ("DC offset", encode(dc, RATE, "WAV", "FLOAT"), "completed"),
        ("hard clipping", encode(loud, RATE, "WAV", "PCM_16"), "completed"),
        ("FLAC of silence decoding to 2 hours", _silence(120, "FLAC", "PCM_16"), "too_long"),
        ("OGG of silence decoding to 40 minutes", _silence(40, "OGG", "VORBIS"), "too_long"),
        ("raw ADTS AAC", adts, "completed"),
        ("PDF named .wav", b"%PDF-1.7\n" + JUNK, "unsupported_format"),
        ("PNG named .wav", b"\x89PNG\r\n\x1a\n" + JUNK, "unsupported_format"),
        ("ZIP named .wav", b"PK\x03\x04" + JUNK, "unsupported_format"),
        ("AIFF", encode(speechlike(1.0), RATE, "AIFF", "PCM_16"), "unsupported_format"),
    ]
    return cases
