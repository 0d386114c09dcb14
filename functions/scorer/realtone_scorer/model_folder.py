"""A trained detector folder: what ``make detector`` writes and ``models/realtone-detector``
holds. Members of any family, their fusion, a calibration and the model card, every file
pinned in ``SHA256SUMS``; a file that is missing, changed, truncated or not listed stops the
scorer at start with a message naming it (never a silent fallback to another model).

Layout::

    model_card.json   name, version, family ("fusion" or a member's), members, trained_on, …
    fusion.json       {"weights": [...], "bias": b}: logistic fusion of the members' logits
    calibration.json  optional: logistic calibration of the fused score
    SHA256SUMS        sha256 of every other file (``sha256sum`` format)
    <member>/         one folder per member, in its family's format (with LICENSE where the
                      weights derive from someone else's)
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from realtone_core.models import ModelCard
from realtone_scorer.calibration import CALIBRATION_FILE, Calibration
from realtone_scorer.detector import Detector, Fusion, Precision
from realtone_scorer.families.aasist import (
    AasistNet,
    load_aasist,
    load_aasist_state,
    read_params,
)
from realtone_scorer.families.base import DetectorNet, ModelLoadError
from realtone_scorer.families.whisper import WhisperNet, load_whisper_net, save_whisper_head

CARD_FILE = "model_card.json"
FUSION_FILE = "fusion.json"
SUMS_FILE = "SHA256SUMS"
LICENSE_FILE = "LICENSE"
# Files a folder may hold without being pinned: they never change a score.
_UNPINNED = {SUMS_FILE, "README.md"}


def models_dir() -> Path:
    """Where the models that ship with RealTone are: ``models/`` of the source tree, or beside
    the package in an image (the Dockerfiles copy ``models/`` there)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "models", here.parents[1] / "models"):
        if candidate.is_dir():
            return candidate
    raise ModelLoadError(
        f"no models/ folder beside {here.parents[1]} or in the source tree: the image must"
        " copy the repository's models/ folder"
    )


def is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / SUMS_FILE).exists() and (path / CARD_FILE).exists()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def verify(folder: Path) -> dict[str, str]:
    """Check every file against ``SHA256SUMS``; returns {relative path: sha256}."""
    sums_path = folder / SUMS_FILE
    sums: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, _, name = line.partition("  ")
        if len(digest) != 64 or not name:
            raise ModelLoadError(f"{sums_path}:{number} is not a 'sha256  path' line")
        sums[name.strip()] = digest.lower()
    for name, digest in sums.items():
        path = folder / name
        if not path.is_file():
            raise ModelLoadError(f"{path} is listed in {sums_path} but missing")
        if _sha256(path) != digest:
            raise ModelLoadError(
                f"{path} does not match its sha256 in {sums_path} (changed or truncated);"
                " refusing to load the model"
            )
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        name = str(path.relative_to(folder))
        if name not in sums and name not in _UNPINNED:
            raise ModelLoadError(f"{path} is not listed in {sums_path}; refusing to load it")
    return sums


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path} is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return data


def _load_member(folder: Path, spec: dict[str, Any], sums: dict[str, str]) -> DetectorNet:
    family, where = spec.get("family"), spec.get("path")
    if not isinstance(where, str) or not (folder / where).is_dir():
        raise ModelLoadError(f"{folder / CARD_FILE}: member {spec} names no folder")
    directory = folder / where
    if family == WhisperNet.family:
        return load_whisper_net(directory, sums.get(f"{where}/whisper_head.pt"))
    if family == AasistNet.family:
        if not (directory / LICENSE_FILE).is_file():
            raise ModelLoadError(
                f"{directory / LICENSE_FILE} is missing: AASIST weights derive from the"
                " authors' (MIT), whose licence must ship with them"
            )
        variant = str(spec.get("variant", "AASIST"))
        weights = directory / f"{variant}.pth"
        expected = sums.get(f"{where}/{variant}.pth")
        if expected is None:
            raise ModelLoadError(f"{weights} is not pinned in {folder / SUMS_FILE}")
        return load_aasist_state(weights, read_params(directory / f"{variant}.json"), expected)
    raise ModelLoadError(f"{folder / CARD_FILE}: unknown member family {family!r}")


def load_model_folder(
    folder: Path, device: str = "auto", precision: Precision = "auto"
) -> Detector:
    sums = verify(folder)
    meta = _read_json(folder / CARD_FILE)
    specs = meta.get("members")
    if not isinstance(specs, list) or not specs:
        raise ModelLoadError(f"{folder / CARD_FILE} lists no members")
    members = [_load_member(folder, spec, sums) for spec in specs]
    fusion_data = _read_json(folder / FUSION_FILE)
    try:
        fusion = Fusion(tuple(float(w) for w in fusion_data["weights"]), float(fusion_data["bias"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelLoadError(f"{folder / FUSION_FILE} is not a valid fusion: {exc!r}") from exc
    if len(fusion.weights) != len(members):
        raise ModelLoadError(
            f"{folder / FUSION_FILE} has {len(fusion.weights)} weights for {len(members)} members"
        )
    calibration = None
    if (folder / CALIBRATION_FILE).exists():
        try:
            calibration = Calibration.load(folder / CALIBRATION_FILE)
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(f"{folder / CALIBRATION_FILE} is not valid: {exc}") from exc
    card = ModelCard(
        name=str(meta.get("name") or folder.name),
        version=str(meta.get("version") or "unversioned"),
        # The folder's identity: every pinned file, so any change is a new model.
        sha256=hashlib.sha256((folder / SUMS_FILE).read_bytes()).hexdigest(),
        trained=bool(meta.get("trained", True)),
        family=str(meta.get("family") or members[0].family),
        members=[
            {"name": str(s.get("name", s["path"])), "family": str(s["family"])} for s in specs
        ],
        trained_on=meta.get("trained_on"),
        threshold=_threshold(meta, folder),
    )
    return Detector.prepare(members, card, device, precision, calibration, fusion)


def _threshold(meta: dict[str, Any], folder: Path) -> float | None:
    value = meta.get("threshold")
    if value is None:
        return None
    if not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ModelLoadError(f"{folder / CARD_FILE}: threshold {value!r} is not in [0, 1]")
    return float(value)


def load_published_aasist(
    variant: str, device: str = "auto", precision: Precision = "auto"
) -> Detector:
    """The authors' published checkpoint as it is (for comparison; it never saw our data)."""
    net = load_aasist(models_dir() / "aasist", variant)
    card = ModelCard(
        name=f"{variant} (published)",
        version="clovaai/aasist@a04c986",
        sha256=_sha256(models_dir() / "aasist" / f"{variant}.pth"),
        trained=True,
        family=AasistNet.family,
        trained_on="ASVspoof 2019 LA train",
    )
    return Detector.prepare(net, card, device, precision)


# --- writing ---------------------------------------------------------------------------------


@dataclass
class Member:
    name: str
    net: DetectorNet
    variant: str | None = None  # AASIST's architecture name


def _write_member(member: Member, directory: Path) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": member.name, "family": member.net.family, "path": member.name}
    if isinstance(member.net, WhisperNet):
        save_whisper_head(member.net, directory)
    elif isinstance(member.net, AasistNet):
        variant = member.variant or "AASIST"
        directory.mkdir(parents=True, exist_ok=True)
        # The inner network's state dict: the same keys as the published files.
        state = {
            k: v.detach().to("cpu", torch.float32) for k, v in member.net.net.state_dict().items()
        }
        torch.save(state, directory / f"{variant}.pth")
        (directory / f"{variant}.json").write_text(
            json.dumps(member.net.params.to_dict(), indent=2) + "\n"
        )
        shutil.copy(models_dir() / "aasist" / LICENSE_FILE, directory / LICENSE_FILE)
        spec["variant"] = variant
    else:
        raise ValueError(f"cannot write a {member.net.family} member")
    return spec


def write_model_folder(
    folder: Path,
    members: list[Member],
    fusion: Fusion,
    calibration: Calibration | None,
    card: dict[str, Any],
    extra: Callable[[Path], None] | None = None,
) -> str:
    """Write a complete folder (replacing one there); returns the card's sha256."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    specs = [_write_member(m, folder / m.name) for m in members]
    (folder / CARD_FILE).write_text(json.dumps({**card, "members": specs}, indent=2) + "\n")
    (folder / FUSION_FILE).write_text(
        json.dumps({"weights": list(fusion.weights), "bias": fusion.bias}, indent=2) + "\n"
    )
    if calibration is not None:
        calibration.save(folder / CALIBRATION_FILE)
    if extra is not None:
        extra(folder)
    lines = [
        f"{_sha256(p)}  {p.relative_to(folder)}"
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name not in _UNPINNED
    ]
    (folder / SUMS_FILE).write_text("\n".join(lines) + "\n")
    return hashlib.sha256((folder / SUMS_FILE).read_bytes()).hexdigest()
