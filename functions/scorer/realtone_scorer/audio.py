"""Audio decoding to 16 kHz mono float32, streamed block by block.

Peak memory is the 16 kHz output plus one decoded block: the source is never held whole,
and a file that claims (or turns out) to be longer than the limit is stopped early. A
sample rate outside 8-384 kHz is refused from the header: a few KB that claim 2 Hz would
otherwise be resampled into hours of audio.

What a file decodes to is charged (``Charge``, the seconds so far) before decoding when the
header says its length, and as it decodes otherwise (or beyond what the header said).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from realtone_core.errors import AudioError, ErrorCode
from realtone_core.formats import ACCEPTED_DESCRIPTION, sniff_container, sniff_other

TARGET_RATE = 16_000
# A stream damaged part-way keeps what decoded before the damage if it is at least this long.
PARTIAL_MIN_SECONDS = 0.5
_BLOCK_SECONDS = 1.0
MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 384_000
# Seconds of audio a file decodes to, so far; raises (AudioError) to stop decoding.
Charge = Callable[[float], None]
# Without a length in the header, decoded audio is charged every this many seconds.
_CHARGE_EVERY_SECONDS = 10.0
log = logging.getLogger(__name__)
# Containers libsndfile reads; the rest go to PyAV (FFmpeg).
_SOUNDFILE_CONTAINERS = frozenset({"wav", "flac", "ogg", "mp3"})


@dataclass(frozen=True)
class DecodedAudio:
    samples: np.ndarray  # float32, mono, TARGET_RATE, in [-1, 1]
    source_rate: int
    channels: int
    container: str

    @property
    def duration_seconds(self) -> float:
        return len(self.samples) / TARGET_RATE


class _Collector:
    """Resamples mono blocks into a growing float32 buffer capped at ``max_samples``."""

    def __init__(
        self, source_rate: int, max_samples: int, expected: int, charge: Charge | None = None
    ) -> None:
        self._charge = charge
        self._charged = 0.0
        self._resampler = (
            soxr.ResampleStream(source_rate, TARGET_RATE, 1, dtype="float32", quality="HQ")
            if source_rate != TARGET_RATE
            else None
        )
        self._max = max_samples
        self._buf = np.empty(min(max(expected, TARGET_RATE), max_samples + TARGET_RATE), np.float32)
        self._n = 0

    def add(self, mono: np.ndarray, last: bool = False) -> None:
        block = np.ascontiguousarray(mono, dtype=np.float32)
        # Lying float files can carry NaN/Inf or values far outside [-1, 1]; cleaned per
        # block, so the masks this needs stay block-sized.
        np.nan_to_num(block, copy=False, nan=0.0, posinf=1.0, neginf=-1.0)
        if self._resampler is not None:
            block = self._resampler.resample_chunk(block, last=last)
        np.clip(block, -1.0, 1.0, out=block)
        if self._n + len(block) > self._max:
            raise AudioError(ErrorCode.TOO_LONG, _too_long_message(self._max / TARGET_RATE))
        if self._n + len(block) > len(self._buf):
            grown = np.empty(
                min(max(2 * len(self._buf), self._n + len(block)), self._max), np.float32
            )
            grown[: self._n] = self._buf[: self._n]
            self._buf = grown
        self._buf[self._n : self._n + len(block)] = block
        self._n += len(block)
        if self._n / TARGET_RATE >= self._charged + _CHARGE_EVERY_SECONDS:
            self.charge(self._n / TARGET_RATE)

    def charge(self, seconds: float) -> None:
        """Charge up to ``seconds`` of audio for this file (never less than already)."""
        if self._charge is not None and seconds > self._charged:
            self._charge(seconds)
            self._charged = seconds

    def damaged(self, exc: Exception) -> None:
        """The stream broke off (say, an upload cut short). What decoded before the damage is
        kept when it is long enough to score; otherwise the file is corrupt."""
        if self._n < PARTIAL_MIN_SECONDS * TARGET_RATE:
            raise AudioError(ErrorCode.CORRUPT_AUDIO, f"The audio is damaged: {exc}") from exc
        log.warning(
            "audio damaged after %.2f s; scoring what decoded: %s", self._n / TARGET_RATE, exc
        )

    def result(self) -> np.ndarray:
        self.add(np.zeros(0, np.float32), last=True)
        self.charge(self._n / TARGET_RATE)
        out = self._buf[: self._n]
        return out.copy() if self._n < len(self._buf) // 2 else out


def _too_long_message(limit_seconds: float) -> str:
    return f"The audio is longer than the {limit_seconds / 60:g}-minute limit"


def _check_rate(rate: int) -> None:
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise AudioError(
            ErrorCode.UNSUPPORTED_SAMPLE_RATE,
            f"The audio's sample rate is {rate} Hz; RealTone reads audio sampled at"
            f" {MIN_SAMPLE_RATE // 1000} to {MAX_SAMPLE_RATE // 1000} kHz",
        )


def decode(path: Path, max_duration_seconds: float, charge: Charge | None = None) -> DecodedAudio:
    """Decode any accepted container, sniffed from its bytes, or raise ``AudioError``."""
    with path.open("rb") as f:
        head = f.read(64)
    if not head:
        raise AudioError(ErrorCode.EMPTY_AUDIO, "The uploaded file is empty")
    container = sniff_container(head)
    if container is None:
        other = sniff_other(head)
        if other:
            raise AudioError(
                ErrorCode.UNSUPPORTED_FORMAT,
                f"This is a {other} file; RealTone accepts {ACCEPTED_DESCRIPTION}",
            )
        raise AudioError(
            ErrorCode.CORRUPT_AUDIO,
            f"The file is not readable audio: its bytes match none of {ACCEPTED_DESCRIPTION}",
        )
    max_samples = int(max_duration_seconds * TARGET_RATE)
    if container in _SOUNDFILE_CONTAINERS:
        try:
            return _decode_soundfile(path, container, max_samples, max_duration_seconds, charge)
        except _NotForSoundfile:
            pass
    return _decode_pyav(path, container, max_samples, max_duration_seconds, charge)


class _NotForSoundfile(Exception):
    """libsndfile cannot open it at all; PyAV gets a try before it is called corrupt."""


def _decode_soundfile(
    path: Path, container: str, max_samples: int, max_duration: float, charge: Charge | None
) -> DecodedAudio:
    try:
        snd = sf.SoundFile(str(path))
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise _NotForSoundfile(str(exc)) from exc
    with snd:
        rate, channels = int(snd.samplerate), int(snd.channels)
        if rate <= 0 or channels <= 0:
            raise AudioError(ErrorCode.CORRUPT_AUDIO, "The audio header is invalid")
        _check_rate(rate)
        if snd.frames > 0 and snd.frames / rate > max_duration:
            raise AudioError(ErrorCode.TOO_LONG, _too_long_message(max_duration))
        expected = int(max(snd.frames, 0) * TARGET_RATE / rate) + TARGET_RATE
        collector = _Collector(rate, max_samples, expected, charge)
        collector.charge(max(snd.frames, 0) / rate)
        try:
            for block in snd.blocks(
                blocksize=max(1, int(rate * _BLOCK_SECONDS)), dtype="float32", always_2d=True
            ):
                collector.add(block.mean(axis=1))
        except (sf.LibsndfileError, RuntimeError) as exc:
            collector.damaged(exc)
        return DecodedAudio(collector.result(), rate, channels, container)


def _decode_pyav(
    path: Path, container: str, max_samples: int, max_duration: float, charge: Charge | None
) -> DecodedAudio:
    import av

    try:
        media = av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AudioError(ErrorCode.CORRUPT_AUDIO, f"The {container} file cannot be read") from exc
    with media:
        stream = next((s for s in media.streams if s.type == "audio"), None)
        if stream is None:
            raise AudioError(ErrorCode.UNSUPPORTED_FORMAT, "The file has no audio track")
        codec: Any = stream.codec_context
        rate = int(codec.sample_rate or 0)
        channels = int(codec.channels or 0)
        if rate <= 0:
            raise AudioError(ErrorCode.CORRUPT_AUDIO, "The audio stream has no sample rate")
        _check_rate(rate)
        if media.duration and media.duration / 1_000_000 > max_duration:
            raise AudioError(ErrorCode.TOO_LONG, _too_long_message(max_duration))
        collector = _Collector(rate, max_samples, 0, charge)
        collector.charge((media.duration or 0) / 1_000_000)
        try:
            for mono in _pyav_mono_blocks(media, stream):
                collector.add(mono)
        except av.FFmpegError as exc:
            collector.damaged(exc)
        return DecodedAudio(collector.result(), rate, channels, container)


_INT_SCALE = {"s16": 32768.0, "s16p": 32768.0, "s32": 2147483648.0, "s32p": 2147483648.0}


def _pyav_mono_blocks(media: object, stream: object) -> Iterator[np.ndarray]:
    for frame in media.decode(stream):  # type: ignore[attr-defined]
        data = frame.to_ndarray()
        fmt = frame.format.name
        if not frame.format.is_planar:
            data = data.reshape(-1, len(frame.layout.channels)).T
        data = data.astype(np.float32)
        if fmt in _INT_SCALE:
            data /= _INT_SCALE[fmt]
        elif fmt in ("u8", "u8p"):
            data = (data - 128.0) / 128.0
        yield data.mean(axis=0)
