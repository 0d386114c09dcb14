"""Labelled audio lists for evaluation and training.

Two formats:
* ASVspoof protocol lines — ``SPEAKER UTTERANCE - ATTACK bonafide|spoof`` (the audio file is
  ``UTTERANCE`` plus an extension, found under the audio directory);
* CSV with a header — ``path,label`` and optionally ``source`` (speaker or recording the
  held-out split groups by) and ``attack``; labels ``bonafide``/``real``/``0`` or
  ``spoof``/``fake``/``1``.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".ogg", ".m4a", ".webm", ".opus")
_SPOOF = {"spoof", "fake", "1", "synthetic"}
_BONAFIDE = {"bonafide", "bona-fide", "real", "0", "genuine"}


@dataclass(frozen=True)
class Item:
    path: Path
    spoof: bool
    source: str
    attack: str


class ProtocolError(ValueError):
    pass


def _label(value: str, where: str) -> bool:
    v = value.strip().lower()
    if v in _SPOOF:
        return True
    if v in _BONAFIDE:
        return False
    raise ProtocolError(f"{where}: label {value!r} is neither bonafide nor spoof")


def _find_audio(audio_dir: Path, name: str, where: str) -> Path:
    direct = audio_dir / name
    if direct.suffix and direct.exists():
        return direct
    for suffix in AUDIO_SUFFIXES:
        candidate = audio_dir / f"{name}{suffix}"
        if candidate.exists():
            return candidate
    raise ProtocolError(f"{where}: no audio file for {name!r} under {audio_dir}")


def read_protocol(path: Path, audio_dir: Path | None = None) -> list[Item]:
    audio_dir = audio_dir or path.parent
    text = path.read_text()
    first = text.lstrip().splitlines()[0] if text.strip() else ""
    items = _read_csv(path, audio_dir) if "," in first else _read_asvspoof(text, path, audio_dir)
    if not items:
        raise ProtocolError(f"{path} lists no audio")
    return items


def _read_asvspoof(text: str, path: Path, audio_dir: Path) -> list[Item]:
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        where = f"{path}:{number}"
        if len(parts) < 5:
            raise ProtocolError(
                f"{where}: expected 'SPEAKER UTTERANCE - ATTACK LABEL', got {line!r}"
            )
        speaker, utterance, attack, label = parts[0], parts[1], parts[3], parts[4]
        items.append(
            Item(_find_audio(audio_dir, utterance, where), _label(label, where), speaker, attack)
        )
    return items


def _read_csv(path: Path, audio_dir: Path) -> list[Item]:
    items = []
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or not {"path", "label"} <= set(reader.fieldnames):
            raise ProtocolError(f"{path}: a CSV protocol needs 'path' and 'label' columns")
        for number, row in enumerate(reader, 2):
            where = f"{path}:{number}"
            audio = _find_audio(audio_dir, row["path"], where)
            spoof = _label(row["label"], where)
            source = row.get("source") or audio.parent.name
            attack = row.get("attack") or ("spoof" if spoof else "-")
            items.append(Item(audio, spoof, source, attack))
    return items
