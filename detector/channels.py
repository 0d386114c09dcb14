"""The channel chain that every corpus file goes through, bona fide and spoof alike.

decode → mono → 16 kHz (soxr) → trim silence (one energy rule) → noise floor → *pre* →
optional band limit (telephone 8 kHz, or 11/12 kHz) → one codec round trip → loudness
normalisation with a peak guard → 16 kHz mono FLAC (the caller writes it).

Why *pre*: most real recordings here reached us through a codec or a narrow band already
(G.722, Vorbis, GSM, 8-kHz PCM), most synthetic speech did not, and Codec 2 copies are
narrow-band while most real speech is not. Each file carries its **native** channel; the
planner (:mod:`detector.corpus`) asks for the same native channels to be *emulated* on clean
files of the other class, so that both classes end up with the same mix of native channels.
Everything after *pre* is drawn by :func:`sample_channel`, which never sees the label.

All functions are pure: numpy arrays in, numpy arrays out, randomness only from the
``numpy.random.Generator`` passed in. Codec tools: PyAV (G.722, MP3, Opus), soundfile (Vorbis)
and the ``sox`` binary (GSM 06.10); :func:`codec_status` says which are usable here.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import soundfile as sf
import soxr

RATE = 16_000
TRAIN_CODECS = ("none", "gsm", "g722", "vorbis")
HELD_OUT_CODECS = ("mp3", "opus")  # only in the held-out channel test (split ``test_channel``)
# What a recording already went through: nothing, G.722, Vorbis, Vorbis after a ~5.5-kHz
# low-pass ("lp"), GSM, or 8-kHz sampling (telephone band).
NATIVE = ("clean", "g722", "vorbis", "lp", "gsm", "8k")
MP3_KBPS = (16, 24, 32, 48, 64)
OPUS_KBPS = (8, 12, 16, 24, 32)
TARGET_DB = (-32.0, -18.0)  # active speech level, dBFS
SNR_DB = (45.0, 70.0)  # noise floor below the active speech level
PEAK = 10 ** (-1 / 20)  # -1 dBFS
P_TEL = 0.3
P_BANDWIDTH = 0.15  # 11.025 or 12 kHz sampling: 5.5-6 kHz audio bandwidth
TRIM_FLOOR_DB = 40.0  # frames quieter than the loudest frame by this much are silence
TRIM_MARGIN_S = 0.08


@dataclass(frozen=True)
class Channel:
    """One draw of the chain. ``pre`` is the native channel; ``emulate`` applies it here."""

    pre: str = "clean"
    emulate: bool = False
    band: int = 0  # 0 = full band, else the rate the signal is squeezed through
    codec: str = "none"
    setting: int = 0  # kbit/s for mp3/opus, quality 0-10 for vorbis
    snr_db: float = 60.0
    target_db: float = -25.0

    @property
    def codec_label(self) -> str:
        if self.codec in ("mp3", "opus"):
            return f"{self.codec}-{self.setting}k"
        if self.codec == "vorbis":
            return f"vorbis-q{self.setting}"
        return self.codec

    @property
    def chain_label(self) -> str:
        """The part drawn by :func:`sample_channel`, e.g. ``gsm+tel``, ``mp3-24k``, ``none``."""
        label = self.codec_label
        if self.band == 8000:
            label += "+tel"
        elif self.band:
            label += f"+bw{self.band // 1000}k"
        return label

    @property
    def label(self) -> str:
        """``<native>><chain>``, e.g. ``g722>gsm+tel`` or ``clean>none``."""
        return f"{self.pre}>{self.chain_label}"

    @property
    def narrowband(self) -> bool:
        return self.band == 8000 or self.codec == "gsm" or self.pre in ("gsm", "8k")


def sample_channel(
    rng: np.random.Generator,
    codecs: tuple[str, ...] = TRAIN_CODECS,
    pre: str = "clean",
    emulate: bool = False,
) -> Channel:
    """Draw band, codec, noise floor and loudness. The label is not an argument, on purpose."""
    u = rng.random()
    band = (
        8000 if u < P_TEL else (int(rng.choice([11025, 12000])) if u < P_TEL + P_BANDWIDTH else 0)
    )
    codec = str(rng.choice(codecs))
    setting = 0
    if codec == "mp3":
        setting = int(rng.choice(MP3_KBPS))
    elif codec == "opus":
        setting = int(rng.choice(OPUS_KBPS))
    elif codec == "vorbis":
        setting = int(rng.integers(1, 8))
    return Channel(
        pre=pre,
        emulate=emulate,
        band=band,
        codec=codec,
        setting=setting,
        snr_db=float(rng.uniform(*SNR_DB)),
        target_db=float(rng.uniform(*TARGET_DB)),
    )


def with_codecs(channel: Channel, rng: np.random.Generator, codecs: tuple[str, ...]) -> Channel:
    """The same file through another codec draw (the held-out channel copy of a test file)."""
    fresh = sample_channel(rng, codecs, channel.pre, channel.emulate)
    return replace(fresh, snr_db=channel.snr_db)


# ---------------------------------------------------------------- decode, mono, resample


def to_mono(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x.mean(axis=1) if x.ndim == 2 else x


def resample(x: np.ndarray, rate: int, to: int = RATE) -> np.ndarray:
    if rate == to:
        return np.asarray(x, dtype=np.float32)
    return soxr.resample(np.asarray(x, dtype=np.float32), rate, to, quality="HQ").astype(np.float32)


def prepare(x: np.ndarray, rate: int) -> np.ndarray:
    """Decoded samples (any rate, mono or multi-channel) → 16 kHz mono float32."""
    return resample(to_mono(x), rate)


# ---------------------------------------------------------------- levels and silence


def frame_db(x: np.ndarray, rate: int = RATE, frame_s: float = 0.02) -> np.ndarray:
    """Power per non-overlapping frame in dB (full scale = 0 dB for a ±1 square wave)."""
    n = max(1, int(rate * frame_s))
    frames = len(x) // n
    if frames == 0:
        return np.array([10 * np.log10(float(np.mean(np.square(x))) + 1e-12)])
    power = np.mean(np.square(x[: frames * n].reshape(frames, n), dtype=np.float64), axis=1)
    return 10 * np.log10(power + 1e-12)


def trim_silence(
    x: np.ndarray,
    rate: int = RATE,
    floor_db: float = TRIM_FLOOR_DB,
    margin_s: float = TRIM_MARGIN_S,
) -> np.ndarray:
    """Cut leading and trailing frames quieter than the loudest frame by ``floor_db``.

    Relative to the loudest frame, so the rule does not depend on the recording level; a
    fixed margin is kept on both sides for every file of both classes.
    """
    frame = int(rate * 0.02)
    db = frame_db(x, rate)
    loud = np.flatnonzero(db > db.max() - floor_db)
    if len(loud) == 0 or db.max() < -90:
        return x[:0]
    margin = int(rate * margin_s)
    start = max(0, loud[0] * frame - margin)
    end = min(len(x), (loud[-1] + 1) * frame + margin)
    return x[start:end]


def active_level_db(x: np.ndarray, rate: int = RATE) -> float:
    """Active speech level: mean power of frames within 20 dB of the mean (a relative gate,
    as in ITU-R BS.1770), so pauses do not lower the level of slow speakers."""
    db = frame_db(x, rate)
    power = 10 ** (db / 10)
    gate = 10 * np.log10(power.mean() + 1e-12) - 20
    active = power[db > gate]
    return float(10 * np.log10((active.mean() if len(active) else power.mean()) + 1e-12))


def add_noise_floor(
    x: np.ndarray, rng: np.random.Generator, snr_db: float, rate: int = RATE
) -> np.ndarray:
    """White noise ``snr_db`` below the active level: no file keeps digital-zero pauses."""
    level = active_level_db(x, rate)
    sigma = 10 ** ((level - snr_db) / 20)
    return (x + sigma * rng.standard_normal(len(x))).astype(np.float32)


def normalise(
    x: np.ndarray, target_db: float, rate: int = RATE, peak: float = PEAK
) -> tuple[np.ndarray, bool]:
    """Scale to ``target_db`` active level; lower the gain if a peak would pass ``peak``.

    Returns the samples and whether the peak guard lowered the gain.
    """
    gain = 10 ** ((target_db - active_level_db(x, rate)) / 20)
    top = float(np.max(np.abs(x))) * gain if len(x) else 0.0
    guarded = top > peak
    if guarded:
        gain *= peak / top
    return np.clip(x * gain, -1.0, 1.0).astype(np.float32), guarded


def band_limit(x: np.ndarray, via: int, rate: int = RATE) -> np.ndarray:
    """Down to ``via`` Hz and back: the band a telephone (8000) or a small rate leaves."""
    return fit(resample(resample(x, rate, via), via, rate), len(x))


def fit(y: np.ndarray, n: int) -> np.ndarray:
    """Crop or zero-pad to ``n`` samples (codec round trips add a few at the end)."""
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if len(y) >= n else np.concatenate([y, np.zeros(n - len(y), np.float32)])


# ---------------------------------------------------------------- codecs


@functools.cache
def codec_status() -> dict[str, str | None]:
    """Each codec → ``None`` when its round trip works here, else the reason it cannot."""
    status: dict[str, str | None] = {"none": None}
    status["gsm"] = None if shutil.which("sox") else "the sox binary is not installed (GSM 06.10)"
    try:
        import av

        for codec, name in (("g722", "g722"), ("mp3", "libmp3lame"), ("opus", "libopus")):
            try:
                av.codec.Codec(name, "w")
                status[codec] = None
            except Exception as error:
                status[codec] = f"PyAV has no {name} encoder ({type(error).__name__})"
    except ImportError:
        for codec in ("g722", "mp3", "opus"):
            status[codec] = "PyAV is not installed"
    status["vorbis"] = (
        None if "VORBIS" in sf.available_subtypes("OGG") else "libsndfile lacks OGG Vorbis"
    )
    return status


def usable(codecs: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in codecs if codec_status().get(c) is None)


def roundtrip(x: np.ndarray, codec: str, setting: int = 0, rate: int = RATE) -> np.ndarray:
    """Encode and decode with ``codec``; same length and rate as the input."""
    if codec == "none":
        return x
    reason = codec_status().get(codec, f"unknown codec {codec!r}")
    if reason:
        raise RuntimeError(f"codec {codec} unavailable: {reason}")
    if codec == "gsm":
        y = _gsm(resample(x, rate, 8000))
        return fit(resample(y, 8000, rate), len(x))
    if codec == "g722":
        y, got = _pyav(x, rate, "g722", "g722")
    elif codec == "mp3":
        y, got = _pyav(x, rate, "mp3", "libmp3lame", setting * 1000)
    elif codec == "opus":
        y, got = _pyav(x, rate, "ogg", "libopus", setting * 1000)
    elif codec == "vorbis":
        y, got = _vorbis(x, rate, setting)
    else:
        raise ValueError(f"unknown codec {codec!r}")
    return fit(resample(y, got, rate), len(x))


def _pcm16(x: np.ndarray) -> np.ndarray:
    return (np.clip(x, -1.0, 1.0) * 32767).astype(np.int16)


def _gsm(x8k: np.ndarray) -> np.ndarray:
    raw = ["-t", "s16", "-r", "8000", "-c", "1"]
    coded = subprocess.run(
        ["sox", "-D", *raw, "-", "-t", "gsm", "-r", "8000", "-c", "1", "-"],
        input=_pcm16(x8k).tobytes(),
        capture_output=True,
        check=True,
    ).stdout
    pcm = subprocess.run(
        ["sox", "-D", "-t", "gsm", "-r", "8000", "-c", "1", "-", *raw, "-"],
        input=coded,
        capture_output=True,
        check=True,
    ).stdout
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def _vorbis(x: np.ndarray, rate: int, quality: int) -> tuple[np.ndarray, int]:
    buf = io.BytesIO()
    level = 1.0 - quality / 10.0  # soundfile: 0 = best quality, 1 = smallest file
    sf.write(buf, np.clip(x, -1, 1), rate, format="OGG", subtype="VORBIS", compression_level=level)
    buf.seek(0)
    y, got = sf.read(buf, dtype="float32")
    return to_mono(y), int(got)


def _pyav(
    x: np.ndarray, rate: int, container: str, codec: str, bit_rate: int = 0
) -> tuple[np.ndarray, int]:
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format=container) as out:
        stream: Any = out.add_stream(codec, rate=rate, layout="mono")
        if bit_rate:
            stream.bit_rate = bit_rate
        names = [f.name for f in stream.codec_context.codec.audio_formats]
        fmt = next((n for n in ("s16", "s16p", "flt", "fltp") if n in names), names[0])
        size = stream.codec_context.frame_size or 1024
        padded = fit(x, -(-len(x) // size) * size)
        samples = _pcm16(padded) if fmt.startswith("s16") else np.clip(padded, -1, 1)
        for i in range(0, len(samples), size):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(samples[i : i + size].reshape(1, -1)),
                format=fmt,
                layout="mono",
            )
            frame.sample_rate = rate
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return decode_pyav(buf.getvalue(), container)


def decode_pyav(data: bytes | str, container: str | None = None) -> tuple[np.ndarray, int]:
    """Decode the first audio stream (bytes or a path) with PyAV to mono float32."""
    import av

    source: Any = io.BytesIO(data) if isinstance(data, bytes) else data
    chunks: list[np.ndarray] = []
    rate = 0
    with av.open(source, format=container) as media:
        for frame in media.decode(audio=0):
            rate = frame.sample_rate
            a = frame.to_ndarray()
            channels = len(frame.layout.channels)
            a = a[0] if frame.format.is_planar else a.reshape(-1, channels)[:, 0]
            if a.dtype == np.int16:
                a = a.astype(np.float32) / 32768.0
            elif a.dtype == np.int32:
                a = a.astype(np.float32) / 2147483648.0
            chunks.append(a.astype(np.float32))
    if not chunks:
        return np.zeros(0, np.float32), rate or RATE
    return np.concatenate(chunks), rate


# ---------------------------------------------------------------- the whole chain


def emulate_native(x: np.ndarray, pre: str, rng: np.random.Generator) -> np.ndarray:
    """Give a clean file the native channel of a real (or Codec-2) recording."""
    if pre == "clean":
        return x
    if pre == "8k":
        return band_limit(x, 8000)
    if pre in ("vorbis", "lp"):  # the real Vorbis sources are high-bitrate game/tutor audio
        if pre == "lp":  # fillets-nl: band edges spread over 4-6 kHz
            x = band_limit(x, int(rng.integers(8800, 12001)))
        return roundtrip(x, "vorbis", int(rng.integers(4, 9)))
    if pre == "gsm" and codec_status()["gsm"] is not None:
        return band_limit(x, 8000)  # the nearest thing without sox
    return roundtrip(x, pre)


def render(
    x: np.ndarray,
    channel: Channel,
    rng: np.random.Generator,
    min_seconds: float = 1.0,
) -> tuple[np.ndarray | None, bool]:
    """16-kHz mono speech → the channel's output, or ``None`` when under ``min_seconds``
    remain after trimming. Also returns whether the peak guard lowered the gain."""
    y = trim_silence(x)
    if len(y) < min_seconds * RATE:
        return None, False
    y = add_noise_floor(y, rng, channel.snr_db)
    if channel.emulate:
        y = emulate_native(y, channel.pre, rng)
    if channel.band:
        y = band_limit(y, channel.band)
    y = roundtrip(y, channel.codec, channel.setting)
    return normalise(y, channel.target_db)


def rolloff_hz(x: np.ndarray, rate: int = RATE, share: float = 0.99) -> float:
    """Frequency below which ``share`` of the energy of the active frames lies."""
    n = 512
    frames = len(x) // n
    if frames == 0:
        return 0.0
    spec = np.abs(np.fft.rfft(x[: frames * n].reshape(frames, n) * np.hanning(n), axis=1)) ** 2
    loud = spec.sum(axis=1) > 0.01 * spec.sum(axis=1).max()
    total = spec[loud].sum(axis=0)
    cumulative = np.cumsum(total) / max(total.sum(), 1e-20)
    return float(np.fft.rfftfreq(n, 1 / rate)[np.searchsorted(cumulative, share)])


def bandwidth_hz(x: np.ndarray, rate: int = RATE, drop_db: float = 50.0) -> float:
    """Highest frequency where the long-term spectrum of the active frames is within
    ``drop_db`` of its peak: the channel's band edge, unlike the roll-off, which follows
    the voice's spectral tilt."""
    n = 1024
    frames = len(x) // n
    if frames == 0:
        return 0.0
    spec = np.abs(np.fft.rfft(x[: frames * n].reshape(frames, n) * np.hanning(n), axis=1)) ** 2
    loud = spec.sum(axis=1) > 0.01 * spec.sum(axis=1).max()
    level = 10 * np.log10(spec[loud].mean(axis=0) + 1e-20)
    inside = np.flatnonzero(level > level.max() - drop_db)
    return float(np.fft.rfftfreq(n, 1 / rate)[inside[-1]])
