"""The corpus as the scorer sees it: every file decoded and cut into its voiced 4-s windows
exactly as the service cuts an upload (same decoder, ``ScoringOptions``, voice threshold),
so what the detector learns from is what it will be asked about."""

from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from realtone_core.errors import AudioError
from realtone_scorer.audio import TARGET_RATE, decode
from realtone_scorer.options import ScoringOptions
from realtone_scorer.windows import plan_windows, window_samples


@dataclass(frozen=True)
class CorpusFile:
    path: Path
    spoof: bool
    speaker: str
    source: str
    generator: str
    family: str  # generator family; "bonafide" for real speech
    channel: str
    split: str
    seconds: float


def read_manifest(corpus: Path) -> list[CorpusFile]:
    with (corpus / "manifest.csv").open(newline="") as f:
        return [
            CorpusFile(
                path=corpus / row["path"],
                spoof=row["label"] == "spoof",
                speaker=row["speaker"],
                source=row["source"],
                generator=row["generator"],
                family=row["family"] if row["label"] == "spoof" else "bonafide",
                channel=row["channel"],
                split=row["split"],
                seconds=float(row["seconds"]),
            )
            for row in csv.DictReader(f)
        ]


@dataclass
class Windows:
    """Voiced windows of a list of files: ``samples[i]`` belongs to ``files[owner[i]]``."""

    files: list[CorpusFile]
    samples: np.ndarray  # (n, 64000) float32
    owner: np.ndarray  # (n,) int: index into files
    skipped: dict[str, str] = field(default_factory=dict)  # path -> why it has no window

    def spoof(self) -> np.ndarray:
        return np.array([self.files[i].spoof for i in self.owner], dtype=bool)


def cut(files: list[CorpusFile], options: ScoringOptions, progress: bool = True) -> Windows:
    length = round(options.window_seconds * TARGET_RATE)
    chunks: list[np.ndarray] = []
    owner: list[int] = []
    skipped: dict[str, str] = {}
    for index, item in enumerate(files):
        if progress and index % 250 == 0:
            print(f"  cutting windows: {index}/{len(files)} files", file=sys.stderr, flush=True)
        try:
            audio = decode(item.path, options.max_duration_seconds)
            planned = plan_windows(audio.samples, TARGET_RATE, options)
        except AudioError as exc:
            skipped[str(item.path)] = exc.code
            continue
        voiced = [w for w in planned if w.voiced]
        if not voiced:
            skipped[str(item.path)] = "no voiced window"
        for w in voiced:
            chunks.append(window_samples(audio.samples, w, length).astype(np.float32))
            owner.append(index)
    samples = np.stack(chunks) if chunks else np.zeros((0, length), np.float32)
    return Windows(files, samples, np.array(owner, dtype=np.int64), skipped)


def manifest_key(corpus: Path, options: ScoringOptions) -> str:
    """Changes whenever the corpus or the windowing does (keys the caches)."""
    digest = hashlib.sha256((corpus / "manifest.csv").read_bytes())
    digest.update(repr(sorted(options.as_dict().items())).encode())
    return digest.hexdigest()[:16]
