"""Who speaks in which window: per-window voice embeddings clustered into speakers.

Each window's speech (its frames the VAD calls speech, joined) is embedded as up to two
1.6-s partials — the first and the last 1.6 s of that speech — so a window costs at most two
encoder passes. A window whose two partials sound like different people holds a change of
speaker or cross-talk: it is marked ``overlap`` and given no speaker rather than being
assigned to one silently. The other windows are clustered by average-linkage on cosine
similarity, stopping at ``SpeakerOptions.same_speaker`` (chosen and validated on offline
speech of known, different speakers: docs/speakers.md). Speakers are numbered by how much
they speak: speaker 0 speaks most.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from uuid import UUID

import numpy as np

from realtone_core.models import EnrolledMatch, Impersonation, Summary
from realtone_scorer.options import SpeakerOptions
from realtone_scorer.reasons import SPEECH_PROBABILITY
from realtone_scorer.speaker_encoder import HOP, PARTIAL_FRAMES
from realtone_scorer.speech import FRAME

PARTIAL = (PARTIAL_FRAMES - 1) * HOP  # samples in one partial (1.59 s)


class VoicePort(Protocol):
    """Embeds partials of speech (realtone_scorer.speaker_encoder.SpeakerEncoder)."""

    @property
    def identity(self) -> str:
        """What decides an embedding: the encoder's weights and how it runs."""
        ...

    def embed(self, partials: list[np.ndarray]) -> np.ndarray: ...


@dataclass(frozen=True)
class WindowVoice:
    embedding: np.ndarray  # unit vector: the normalised mean of the window's partials
    halves: float | None  # cosine similarity of its two partials (None with one)
    speech_seconds: float


def speech_partials(
    segment: np.ndarray, speech: np.ndarray, options: SpeakerOptions
) -> list[np.ndarray]:
    """The window's speech as 0, 1 or 2 partials. ``speech``: its frames' probabilities."""
    frames = np.flatnonzero(speech[: -(-len(segment) // FRAME)] >= SPEECH_PROBABILITY)
    if len(frames) * FRAME < options.min_speech_seconds * 16_000:
        return []
    voiced = np.concatenate([segment[f * FRAME : (f + 1) * FRAME] for f in frames])
    if len(voiced) < 1.25 * PARTIAL:
        return [voiced[:PARTIAL]]
    return [voiced[:PARTIAL], voiced[-PARTIAL:]]


def embed_windows(encoder: VoicePort, partials: list[list[np.ndarray]]) -> list[WindowVoice | None]:
    """One encoder pass over every partial of a batch of windows."""
    flat = [p for parts in partials for p in parts]
    embedded = encoder.embed(flat)
    voices: list[WindowVoice | None] = []
    at = 0
    for parts in partials:
        if not parts:
            voices.append(None)
            continue
        own = embedded[at : at + len(parts)]
        at += len(parts)
        mean = own.mean(axis=0)
        halves = float(own[0] @ own[1]) if len(own) == 2 else None
        seconds = sum(len(p) for p in parts) / 16_000
        voices.append(WindowVoice(mean / np.linalg.norm(mean), halves, seconds))
    return voices


def cluster(embeddings: np.ndarray, same_speaker: float) -> np.ndarray:
    """Average-linkage agglomerative clustering of unit vectors on cosine similarity:
    merge the two most similar clusters while their average similarity ≥ ``same_speaker``.
    Returns a cluster label per row (0..k-1, in order of first appearance)."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, int)
    sim = embeddings @ embeddings.T
    np.fill_diagonal(sim, -np.inf)
    sizes = np.ones(n)
    alive = np.ones(n, bool)
    labels = np.arange(n)
    while alive.sum() > 1:
        a, b = np.unravel_index(np.argmax(sim), sim.shape)
        if sim[a, b] < same_speaker:
            break
        # Lance-Williams update for average linkage: the merged cluster's similarity to each
        # other cluster is the size-weighted mean of its parts' similarities.
        merged = (sizes[a] * sim[a] + sizes[b] * sim[b]) / (sizes[a] + sizes[b])
        sim[a], sim[:, a] = merged, merged
        sim[a, a] = -np.inf
        sim[b], sim[:, b] = -np.inf, -np.inf
        sizes[a] += sizes[b]
        alive[b] = False
        labels[labels == b] = a
    _, first = np.unique(labels, return_index=True)
    order = {label: rank for rank, label in enumerate(labels[np.sort(first)])}
    return np.array([order[label] for label in labels])


@dataclass(frozen=True)
class Diarization:
    speaker: dict[int, int]  # window index → speaker
    overlap: set[int]  # windows that hold two voices
    embeddings: dict[int, np.ndarray]  # speaker → unit vector (normalised mean)


def diarize(voices: dict[int, WindowVoice], options: SpeakerOptions) -> Diarization:
    """Speakers of the windows that have a voice embedding (``voices``: window index → voice).
    Speakers are numbered by their speech, most first."""
    overlap = {
        i for i, v in voices.items() if v.halves is not None and v.halves < options.mixed_below
    }
    clean = sorted(i for i in voices if i not in overlap)
    if not clean:
        return Diarization({}, overlap, {})
    vectors = np.stack([voices[i].embedding for i in clean])
    labels = cluster(vectors, options.same_speaker)
    speech = np.zeros(labels.max() + 1)
    for i, label in zip(clean, labels, strict=True):
        speech[label] += voices[i].speech_seconds
    rank = {int(label): r for r, label in enumerate(np.argsort(-speech, kind="stable"))}
    speaker = {i: rank[int(label)] for i, label in zip(clean, labels, strict=True)}
    embeddings = {}
    for label, r in rank.items():
        mean = vectors[labels == label].mean(axis=0)
        embeddings[r] = (mean / np.linalg.norm(mean)).astype(np.float32)
    return Diarization(speaker, overlap, embeddings)


def match_enrolled(
    summary: Summary,
    embeddings: dict[int, np.ndarray],
    enrolled: Sequence[tuple[UUID, str, np.ndarray]],
    threshold: float,
) -> Summary:
    """Each speaker's closest enrolled voice at or above ``threshold`` (cosine similarity);
    a matched speaker judged ``fake`` is an impersonation (the most similar one if several).
    ``enrolled``: the owner's voices as (id, name, unit vector), as they are now: matches a
    reused result carried from an earlier analysis are replaced."""
    if summary.speakers is None:
        return summary
    voices = np.stack([np.asarray(e, np.float32) for _, _, e in enrolled]) if enrolled else None
    speakers = []
    alert: Impersonation | None = None
    for entry in summary.speakers:
        vector = embeddings.get(entry.speaker)
        match = None
        if vector is not None and voices is not None:
            similarity = voices @ np.asarray(vector, np.float32)
            best = int(np.argmax(similarity))
            if similarity[best] >= threshold:
                voice_id, name, _ = enrolled[best]
                match = EnrolledMatch(
                    id=voice_id, name=name, similarity=round(float(similarity[best]), 4)
                )
        speakers.append(entry.model_copy(update={"enrolled_voice": match}))
        stronger = alert is None or (match is not None and match.similarity > alert.similarity)
        if match is not None and entry.verdict == "fake" and stronger:
            alert = Impersonation(
                voice_id=match.id,
                name=match.name,
                speaker=entry.speaker,
                similarity=match.similarity,
            )
    return summary.model_copy(update={"speakers": speakers, "impersonation": alert})
