"""Copy-synthesis spoofs made in numpy: Griffin-Lim phase reconstruction and an LPC vocoder.

Both take a real 16-kHz recording and return a same-length synthetic copy of it, like the
WORLD and Codec 2 copies in :mod:`detector.sources`:

* :func:`griffinlim_copy` keeps a magnitude spectrogram and rebuilds the phase (fast
  Griffin-Lim). The magnitude is either the STFT's own, or an 80-band Slaney mel spectrogram
  inverted to a linear magnitude (least squares), optionally smoothed over 3-5 frames first:
  the over-smoothed mel that a TTS acoustic model hands its vocoder.
* :func:`lpc_copy` is a classic LPC vocoder: frame-wise all-pole filters (order 16-24, 25-ms
  frames, 10-ms hop) driven by a pulse train at the tracked pitch in voiced frames and white
  noise in unvoiced ones, overlap-added.

Pure functions: randomness only from the ``numpy.random.Generator`` passed in, so a copy is
fixed by the seed. The copy never has more band than its source (:func:`match_band`).
"""

from __future__ import annotations

import functools

import numpy as np
import soxr
from numpy.lib.stride_tricks import sliding_window_view

from detector.channels import RATE, band_limit, bandwidth_hz, fit

# ---------------------------------------------------------------- STFT


@functools.cache
def _hann(n: int) -> np.ndarray:
    """Periodic Hann window (sums to a constant at hops of n/2 and n/4)."""
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n) / n)).astype(np.float32)


def stft(x: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """Centred STFT, ``(frames, n_fft // 2 + 1)``; ``1 + len(x) // hop`` frames."""
    pad = n_fft // 2
    padded = np.pad(np.asarray(x, np.float32), (pad, pad + hop))
    frames = sliding_window_view(padded, n_fft)[::hop][: 1 + len(x) // hop]
    return np.fft.rfft(frames * _hann(n_fft), axis=1)


def _overlap_add(pieces: np.ndarray, hop: int) -> np.ndarray:
    """Sum frames of ``k * hop`` samples placed ``hop`` apart (k whole blocks, vectorised)."""
    count, size = pieces.shape
    k = size // hop
    blocks = pieces.reshape(count, k, hop)
    out = np.zeros((count + k - 1, hop), dtype=pieces.dtype)
    for j in range(k):
        out[j : j + count] += blocks[:, j]
    return out.reshape(-1)


def istft(spec: np.ndarray, n_fft: int, hop: int, length: int) -> np.ndarray:
    """Inverse of :func:`stft` (weighted overlap-add), ``length`` samples."""
    window = _hann(n_fft)
    pieces = np.fft.irfft(spec, n=n_fft, axis=1).astype(np.float32) * window
    y = _overlap_add(pieces, hop)
    norm = _overlap_add(np.broadcast_to(window**2, pieces.shape), hop)
    pad = n_fft // 2
    return y[pad : pad + length] / np.maximum(norm[pad : pad + length], 1e-6)


def griffin_lim(
    magnitude: np.ndarray,
    n_fft: int,
    hop: int,
    length: int,
    iterations: int,
    rng: np.random.Generator,
    momentum: float = 0.99,
) -> np.ndarray:
    """Fast Griffin-Lim (Perraudin et al. 2013; ``momentum=0`` is the original algorithm)
    from random initial phases: a signal whose STFT magnitude approaches ``magnitude``."""
    angles = np.exp(2j * np.pi * rng.random(magnitude.shape)).astype(np.complex64)
    previous = np.zeros_like(angles)
    weight = momentum / (1 + momentum)
    for _ in range(iterations):
        rebuilt = stft(istft(magnitude * angles, n_fft, hop, length), n_fft, hop)
        angles = rebuilt - weight * previous
        angles /= np.abs(angles) + 1e-12
        previous = rebuilt
    return istft(magnitude * angles, n_fft, hop, length)


# ---------------------------------------------------------------- mel (Slaney, as librosa's)


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above (librosa ``htk=False``)."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_step = np.log(6.4) / 27.0
    return np.where(hz >= 1000.0, 15.0 + np.log(np.maximum(hz, 1e-9) / 1000.0) / log_step, mel)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    log_step = np.log(6.4) / 27.0
    return np.where(mel >= 15.0, 1000.0 * np.exp(log_step * (mel - 15.0)), mel * (200.0 / 3))


@functools.cache
def mel_filters(
    rate: int = RATE, n_fft: int = 1024, n_mels: int = 80, fmin: float = 0.0, fmax: float = 8000.0
) -> np.ndarray:
    """Triangular mel filters with Slaney's area normalisation, ``(n_mels, n_fft//2 + 1)``:
    the same matrix as ``librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, ...)``."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights


@functools.cache
def _mel_pinv(n_fft: int, fmin: float, fmax: float) -> np.ndarray:
    return np.linalg.pinv(mel_filters(RATE, n_fft, 80, fmin, fmax))


def smooth_frames(values: np.ndarray, width: int) -> np.ndarray:
    """Moving average over ``width`` frames (axis 0), edges repeated."""
    if width <= 1:
        return values
    before = (width - 1) // 2
    padded = np.pad(values, ((before, width - 1 - before), (0, 0)), mode="edge")
    total = np.cumsum(np.pad(padded, ((1, 0), (0, 0))), axis=0)
    return (total[width:] - total[:-width]) / width


def mel_inverse(
    mel: np.ndarray, n_fft: int, fmin: float, fmax: float, method: str = "pinv"
) -> np.ndarray:
    """Mel magnitudes ``(frames, 80)`` → linear magnitudes ``(frames, n_fft//2 + 1)``.

    ``pinv``: the least-squares (pseudo-inverse) solution, negatives clipped to 0.
    ``nnmu``: that, refined by 12 multiplicative updates, a non-negative least-squares fit.
    """
    basis = mel_filters(RATE, n_fft, 80, fmin, fmax)
    floor = 1e-7 * max(float(mel.max()), 1e-12)
    linear = np.maximum(mel @ _mel_pinv(n_fft, fmin, fmax).T, floor)
    if method == "nnmu":
        target = mel @ basis
        for _ in range(12):
            linear *= target / np.maximum((linear @ basis.T) @ basis, 1e-12)
    return linear


# ---------------------------------------------------------------- LPC vocoder


def levinson(r: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Levinson-Durbin for many frames at once: autocorrelations ``(frames, order + 1)`` →
    predictor polynomials ``A = [1, a1, ..., a_order]`` and prediction-error energies."""
    a = np.zeros((len(r), order + 1))
    a[:, 0] = 1.0
    error = r[:, 0].copy()
    for i in range(1, order + 1):
        acc = r[:, i] + np.sum(a[:, 1:i] * r[:, i - 1 : 0 : -1], axis=1)
        k = -acc / error
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1 : 0 : -1]
        a[:, i] = k
        error = error * (1.0 - k * k)
    return a, np.maximum(error, 0.0)


def _centred_frames(x: np.ndarray, size: int, hop: int, count: int) -> np.ndarray:
    """``count`` frames of ``size`` samples, frame i centred on sample ``i * hop``."""
    padded = np.pad(x, (size // 2, size + count * hop))
    return sliding_window_view(padded, size)[::hop][:count]


def track_pitch(
    x: np.ndarray,
    hop: int = 160,
    fmin: float = 60.0,
    fmax: float = 400.0,
    threshold: float = 0.45,
) -> np.ndarray:
    """f0 in Hz per ``hop`` (frame i centred on sample ``i * hop``), 0 where unvoiced.

    Autocorrelation of 40-ms frames at 8 kHz, corrected for the window (Boersma 1993), with
    a parabolic peak at the shortest lag within 5 % of the best; voiced where it passes
    ``threshold`` and the frame is within 35 dB of the loudest; voicing runs under 30 ms
    dropped, a 5-frame median against octave jumps.
    """
    low = soxr.resample(np.asarray(x, np.float32), RATE, 8000, quality="HQ").astype(np.float64)
    step = hop * 8000 // RATE
    count = 1 + len(x) // hop
    size, n = 320, 1024
    window = np.hanning(size)
    frames = _centred_frames(low, size, step, count)
    frames = (frames - frames.mean(axis=1, keepdims=True)) * window
    r = np.fft.irfft(np.abs(np.fft.rfft(frames, n=n, axis=1)) ** 2, n=n, axis=1)
    rw = np.fft.irfft(np.abs(np.fft.rfft(window, n=n)) ** 2, n=n)
    lo, hi = int(8000 / fmax), int(np.ceil(8000 / fmin))
    energy = r[:, 0]
    norm = r[:, lo : hi + 2] / np.maximum(energy[:, None], 1e-20) / (rw[lo : hi + 2] / rw[0])
    inner = norm[:, 1:-1]
    # the shortest lag whose peak is within 5 % of the highest (against octave errors down)
    peaks = (inner >= norm[:, :-2]) & (inner >= norm[:, 2:])
    peaks &= inner >= 0.95 * inner.max(axis=1, keepdims=True)
    best = np.where(peaks.any(axis=1), np.argmax(peaks, axis=1), np.argmax(inner, axis=1)) + 1
    rows = np.arange(count)
    left, mid, right = norm[rows, best - 1], norm[rows, best], norm[rows, best + 1]
    curve = left - 2 * mid + right
    shift = np.where(curve < 0, 0.5 * (left - right) / np.where(curve < 0, curve, -1.0), 0.0)
    lag = lo + best + np.clip(shift, -0.5, 0.5)
    db = 10 * np.log10(energy + 1e-20)
    voiced = (mid > threshold) & (db > db.max() - 35.0)
    voiced &= _runs_at_least(voiced, 3)
    f0 = np.where(voiced, 8000.0 / lag, 0.0)
    padded = np.pad(f0, 2, mode="edge")
    median = np.median(sliding_window_view(padded, 5), axis=1)
    both = voiced & (median > 0)
    return np.where(both, median, np.where(voiced, f0, 0.0))


def _runs_at_least(mask: np.ndarray, length: int) -> np.ndarray:
    """True where ``mask`` is in a run of at least ``length`` Trues."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = np.zeros(len(mask), dtype=bool)
    for s, e in zip(starts, ends, strict=True):
        if e - s >= length:
            keep[s:e] = True
    return keep


def excitation(
    f0: np.ndarray, n: int, hop: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-power excitation: pulses at ``f0`` where voiced, white noise elsewhere. Also
    returns the per-sample voicing."""
    frame_of = np.minimum((np.arange(n) + hop // 2) // hop, len(f0) - 1)
    voiced = f0[frame_of] > 0
    frames = np.arange(len(f0)) * hop
    if np.any(f0 > 0):
        inside = f0 > 0
        contour = np.interp(np.arange(n), frames[inside], f0[inside])
    else:
        contour = np.full(n, 100.0)
    phase = np.cumsum(contour / RATE)
    pulse = np.zeros(n)
    ticks = np.flatnonzero(np.diff(np.floor(phase), prepend=0.0) > 0)
    pulse[ticks] = np.sqrt(RATE / contour[ticks])  # power 1 for a period of RATE/f0 samples
    noise = rng.standard_normal(n)
    return np.where(voiced, pulse, noise), voiced


def lpc_vocoder(
    x: np.ndarray,
    order: int,
    gain: str,
    rng: np.random.Generator,
    frame: int = 400,
    hop: int = 160,
    emphasis: float = 0.97,
) -> np.ndarray:
    """LPC analysis (pre-emphasised, Hann, 25 ms / 10 ms) and resynthesis: each frame's
    slice of the excitation (Hann of two hops, which sum to one) filtered by that frame's
    ``gain / (A(z) (1 - emphasis z^-1))`` in the frequency domain, overlap-added.

    ``gain="residual"``: each frame's excitation carries the LPC residual's energy.
    ``gain="envelope"``: unit gain, then the output's 20-ms energy contour is matched to the
    input's.
    """
    x = np.asarray(x, np.float64)
    n = len(x)
    count = 1 + n // hop
    emphasised = np.append(x[0], x[1:] - emphasis * x[:-1])
    window = np.hanning(frame)
    frames = _centred_frames(emphasised, frame, hop, count) * window
    size = 1024
    r = np.fft.irfft(np.abs(np.fft.rfft(frames, n=size, axis=1)) ** 2, n=size, axis=1)
    r = r[:, : order + 1]
    lag = np.arange(order + 1)
    r *= np.exp(-0.5 * (2 * np.pi * 60.0 * lag / RATE) ** 2)  # 60-Hz lag window
    r[:, 0] = r[:, 0] * (1 + 1e-4) + 1e-10  # white-noise correction, and silence
    a, error = levinson(r, order)
    g = np.sqrt(error / np.sum(window**2)) if gain == "residual" else np.ones(count)
    e, _ = excitation(track_pitch(x, hop), n, hop, rng)
    # synthesis: slices of 2 hops centred on each frame, filtered, 16 hops long with the tail
    length = 16 * hop
    slices = _centred_frames(e, 2 * hop, hop, count) * np.hanning(2 * hop + 1)[:-1]
    spectrum = np.fft.rfft(slices, n=length, axis=1)
    w = np.exp(-2j * np.pi * np.fft.rfftfreq(length))
    denominator = np.fft.rfft(a, n=length, axis=1) * (1 - emphasis * w)
    pieces = np.fft.irfft(spectrum * g[:, None] / denominator, n=length, axis=1)
    y = _overlap_add(pieces, hop)[hop : hop + n]
    if gain == "envelope":
        y *= _envelope_gain(x, y, hop)
    return y


def _envelope_gain(x: np.ndarray, y: np.ndarray, hop: int) -> np.ndarray:
    """Per-sample gain bringing ``y``'s 20-ms energy contour to ``x``'s (at most +40 dB)."""
    count = 1 + len(x) // hop
    ex = np.mean(_centred_frames(x, 2 * hop, hop, count) ** 2, axis=1)
    ey = np.mean(_centred_frames(y, 2 * hop, hop, count) ** 2, axis=1)
    gain = np.sqrt(ex / np.maximum(ey, 1e-4 * ex + 1e-20))
    return np.interp(np.arange(len(x)), np.arange(count) * hop, gain)


# ---------------------------------------------------------------- the copies


def match_band(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Low-pass the copy at its source's band edge (60 dB below the peak of the long-term
    spectrum), so that a copy of band-limited speech is no wider than its source (an LPC
    envelope or a mel inverse leaks a little past a steep edge)."""
    edge = bandwidth_hz(x, drop_db=60.0)
    via = int(np.ceil(2.06 * edge / 100.0)) * 100  # soxr's pass band ends ~3 % below via / 2
    return y if via >= RATE - 1000 or via < 2000 else band_limit(y, via)


def _finish(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    y = fit(np.nan_to_num(np.asarray(y, np.float32)), len(x))
    return match_band(y, x)


def griffinlim_copy(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Phase reconstruction from a magnitude: the STFT's (``stft``), an 80-band mel inverted
    by least squares (``mel``), or that mel smoothed over 3-5 frames first (``melsmooth``)."""
    kind = str(rng.choice(["stft", "mel", "melsmooth"], p=[0.35, 0.35, 0.3]))
    n_fft = int(rng.choice([512, 1024]))
    hop = n_fft // 4
    iterations = int(rng.integers(16, 65))
    momentum = 0.99 if rng.random() < 0.7 else 0.0
    spec = np.abs(stft(x, n_fft, hop))
    if kind == "stft":
        name = f"griffinlim-stft-n{n_fft}"
    else:
        fmin = float(rng.choice([0.0, 50.0]))
        fmax = float(rng.choice([7600.0, 8000.0]))
        method = str(rng.choice(["pinv", "nnmu"]))
        mel = spec @ mel_filters(RATE, n_fft, 80, fmin, fmax).T
        name = f"griffinlim-mel80-{method}-f{fmin:g}-{fmax:g}-n{n_fft}"
        if kind == "melsmooth":
            width = int(rng.integers(3, 6))
            log_mel = np.log(np.maximum(mel, 1e-5 * max(float(mel.max()), 1e-12)))
            mel = np.exp(smooth_frames(log_mel, width))
            name = name.replace("mel80", f"mel80-smooth{width}")
        spec = mel_inverse(mel, n_fft, fmin, fmax, method)
    y = griffin_lim(spec.astype(np.float32), n_fft, hop, len(x), iterations, rng, momentum)
    return _finish(y, x), f"{name}-i{iterations}-m{momentum:g}"


def lpc_copy(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """LPC vocoder copy: order 16-24, gain from the residual or the energy contour."""
    order = int(rng.integers(16, 25))
    gain = "residual" if rng.random() < 0.5 else "envelope"
    y = lpc_vocoder(x, order, gain, rng)
    return _finish(y, x), f"lpc-o{order}-{gain}"
