"""From window scores to the verdict (DESIGN §3)."""

from __future__ import annotations

import math

from realtone_core.models import Chunk, SpeakerSummary, Summary, Verdict
from realtone_scorer.options import ScoringOptions
from realtone_scorer.reasons import file_reason


def summarize(chunks: list[Chunk], threshold: float, inconclusive_band: float = 0.0) -> Summary:
    """The verdict rules of DESIGN §3; with ``inconclusive_band`` > 0 an overall score that
    close to the threshold is ``inconclusive`` too (worth it once scores are calibrated)."""
    scores = sorted((c.score for c in chunks if c.score is not None), reverse=True)
    if not scores:
        return Summary(
            verdict="inconclusive",
            score=None,
            max_score=None,
            mean_score=None,
            fake_chunk_ratio=None,
            threshold=threshold,
            reason=file_reason([c.reason for c in chunks]) or "no_speech",
        )
    fake = sum(1 for s in scores if s >= threshold)
    ratio = fake / len(scores)
    top = scores[: max(1, math.ceil(len(scores) / 3))]
    verdict: Verdict = "fake" if ratio >= 0.5 else "likely_fake" if fake else "real"
    score = sum(top) / len(top)
    if inconclusive_band > 0 and abs(score - threshold) < inconclusive_band:
        verdict = "inconclusive"
    return Summary(
        verdict=verdict,
        score=score,
        max_score=scores[0],
        mean_score=sum(scores) / len(scores),
        fake_chunk_ratio=ratio,
        threshold=threshold,
    )


def summarize_speakers(
    chunks: list[Chunk], duration_seconds: float, options: ScoringOptions
) -> list[SpeakerSummary]:
    """Per speaker: how long they speak and the verdict the rules above give their windows
    alone, so a real caller and a cloned one in the same file each get their own."""
    speakers = sorted({c.speaker for c in chunks if c.speaker is not None})
    out = []
    for speaker in speakers:
        own = [c for c in chunks if c.speaker == speaker]
        verdict = summarize(own, options.score_threshold, options.inconclusive_band)
        seconds = sum(c.end_time_seconds - c.start_time_seconds for c in own)
        out.append(
            SpeakerSummary(
                speaker=speaker,
                seconds=round(seconds, 3),
                share=round(seconds / duration_seconds, 4) if duration_seconds > 0 else 0.0,
                score=verdict.score,
                verdict=verdict.verdict,
            )
        )
    return out
