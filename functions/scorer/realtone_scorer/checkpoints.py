"""Loading the detector that ``REALTONE_MODEL`` names, once per container, at start.

Accepted:
* ``builtin:<name>`` — a detector folder that ships in ``models/`` (``model_folder``);
  ``builtin:realtone-detector`` is the default;
* ``aasist:AASIST`` / ``aasist:AASIST-L`` — the AASIST authors' published checkpoints as
  they are (to compare against);
* ``dev:tiny`` — a tiny WavLM built in code from a fixed seed (``trained: false``);
* a detector folder (``model_folder``: members, fusion, calibration, ``SHA256SUMS``);
* a WavLM directory — ``config.json`` + weights as written by transformers' ``save_pretrained``
  for the encoder, ``head.pt`` for the head, optional ``model_card.json``;
* a ``.pth``/``.pt`` file — one state dict in the original checkpoint's shape
  (``wavlm.*`` + ``head.*``); the config is read from a ``<file>.json`` beside it or
  inferred from the tensor shapes;
* ``s3://bucket/key`` of either of the above (a key ending in ``/`` is a directory),
  downloaded once into a cache directory; ``#sha256=<hex>`` (or
  ``REALTONE_MODEL_SHA256``) pins the file's hash.

The card's ``sha256`` hashes the weights themselves, so the same weights give the same
card whatever format they were stored in.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from transformers import WavLMConfig, WavLMModel

from realtone_core.models import ModelCard
from realtone_scorer import model_folder
from realtone_scorer.calibration import CALIBRATION_FILE, Calibration
from realtone_scorer.detector import (
    Detector,
    Precision,
    WavLMDetector,
    state_sha256,
    tiny_config,
)
from realtone_scorer.families.base import ModelLoadError

DEV_TINY = "dev:tiny"
# The detector folders that ship in models/ ("builtin:realtone-detector", the default).
BUILTIN = "builtin:"
# The AASIST authors' published checkpoints as they are: "aasist:AASIST", "aasist:AASIST-L".
PUBLISHED_AASIST = "aasist:"
_DEV_TINY_SEED = 20_260_101
HEAD_FILE = "head.pt"
CARD_FILE = "model_card.json"


def build_dev_tiny() -> WavLMDetector:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_DEV_TINY_SEED)
        return WavLMDetector(tiny_config())


def _card(model: WavLMDetector, meta: dict[str, Any], default_name: str) -> ModelCard:
    return ModelCard(
        name=str(meta.get("name") or default_name),
        version=str(meta.get("version") or "unversioned"),
        sha256=state_sha256(model),
        trained=bool(meta.get("trained", True)),
    )


# --- writing --------------------------------------------------------------------------------


def save_directory(model: WavLMDetector, path: Path, card: dict[str, Any]) -> None:
    path.mkdir(parents=True, exist_ok=True)
    model.wavlm.save_pretrained(path)
    torch.save(model.head.state_dict(), path / HEAD_FILE)
    (path / CARD_FILE).write_text(json.dumps(card, indent=2))


def save_state_dict(model: WavLMDetector, path: Path, card: dict[str, Any]) -> None:
    torch.save(model.state_dict(), path)
    sidecar = {**card, "config": model.config.to_dict()}
    path.with_name(path.name + ".json").write_text(json.dumps(sidecar, indent=2))


# --- reading --------------------------------------------------------------------------------


def infer_config(state: dict[str, torch.Tensor]) -> WavLMConfig:
    """The WavLM config implied by a state dict's names and shapes.

    What no tensor shows takes WavLM's defaults: conv strides (5, 2, 2, 2, 2, 2, 2) and
    ``max_bucket_distance`` 800. Ship a ``<file>.json`` with ``config`` when they differ.
    """
    try:
        hidden = state["head.weight"].shape[1]
        layers = {
            int(m.group(1)) for k in state if (m := re.match(r"wavlm\.encoder\.layers\.(\d+)\.", k))
        }
        first = "wavlm.encoder.layers.0."
        convs = sorted(
            {
                int(m.group(1))
                for k in state
                if (m := re.match(r"wavlm\.feature_extractor\.conv_layers\.(\d+)\.", k))
            }
        )
        conv_w = [state[f"wavlm.feature_extractor.conv_layers.{i}.conv.weight"] for i in convs]
        pos = state["wavlm.encoder.pos_conv_embed.conv.parametrizations.weight.original1"]
        rel = state[first + "attention.rel_attn_embed.weight"]
        layer_norm_convs = "wavlm.feature_extractor.conv_layers.1.layer_norm.weight" in state
    except (KeyError, IndexError) as exc:
        raise ModelLoadError(
            f"the state dict is not a WavLM detector (missing {exc});"
            " expected 'wavlm.*' and 'head.*' keys"
        ) from exc
    default_strides = (5, 2, 2, 2, 2, 2, 2)
    return WavLMConfig(
        hidden_size=hidden,
        num_hidden_layers=len(layers),
        num_attention_heads=rel.shape[1],
        num_buckets=rel.shape[0],
        intermediate_size=state[first + "feed_forward.intermediate_dense.weight"].shape[0],
        conv_dim=tuple(w.shape[0] for w in conv_w),
        conv_kernel=tuple(w.shape[2] for w in conv_w),
        conv_stride=default_strides[: len(conv_w)] if len(conv_w) <= 7 else (2,) * len(conv_w),
        conv_bias=f"wavlm.feature_extractor.conv_layers.{convs[0]}.conv.bias" in state,
        feat_extract_norm="layer" if layer_norm_convs else "group",
        do_stable_layer_norm=layer_norm_convs,
        num_conv_pos_embeddings=pos.shape[2],
        num_conv_pos_embedding_groups=hidden // pos.shape[1],
        apply_spec_augment=False,
    )


def _load_state(model: WavLMDetector, state: dict[str, torch.Tensor], source: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelLoadError(f"{source} does not match the WavLM detector's shape: {exc}") from exc


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} must hold a JSON object")
    return data


def _torch_load(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot read checkpoint {path}: {exc}") from exc


def load_state_dict_file(path: Path) -> tuple[WavLMDetector, ModelCard]:
    state = _torch_load(path)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path} does not hold a state dict of tensors")
    sidecar = _read_json(path.with_name(path.name + ".json"))
    config = WavLMConfig(**sidecar["config"]) if "config" in sidecar else infer_config(state)
    config.apply_spec_augment = False
    model = WavLMDetector(config)
    _load_state(model, state, str(path))
    return model, _card(model, sidecar, path.stem)


def load_directory(path: Path) -> tuple[WavLMDetector, ModelCard]:
    if not (path / "config.json").exists():
        raise ModelLoadError(f"{path} has no config.json (expected a save_pretrained layout)")
    if not (path / HEAD_FILE).exists():
        raise ModelLoadError(f"{path} has no {HEAD_FILE} with the classification head")
    try:
        config = WavLMConfig.from_pretrained(path, local_files_only=True)
        config.apply_spec_augment = False
        encoder = WavLMModel.from_pretrained(path, config=config, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the WavLM encoder from {path}: {exc}") from exc
    model = WavLMDetector(config)
    model.wavlm = encoder
    head = _torch_load(path / HEAD_FILE)
    try:
        model.head.load_state_dict(head, strict=True)
    except (RuntimeError, TypeError, AttributeError) as exc:
        raise ModelLoadError(
            f"{path / HEAD_FILE} does not fit a {config.hidden_size}-wide head: {exc}"
        ) from exc
    return model, _card(model, _read_json(path / CARD_FILE), path.name)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as f:
            while block := f.read(1 << 20):
                digest.update(block)
    return digest.hexdigest()


def fetch_s3(uri: str, cache_dir: Path, expected_sha256: str | None, s3: Any) -> Path:
    """Download ``s3://bucket/key`` (or ``…/prefix/``) once into ``cache_dir``; verify it."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise ModelLoadError(f"{uri} is not an s3://bucket/key URI")
    target = cache_dir / hashlib.sha256(uri.encode()).hexdigest()[:16] / Path(key.rstrip("/")).name
    if not target.exists():
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.unlink(missing_ok=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        try:
            if key.endswith("/"):
                pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
                objects = [o["Key"] for page in pages for o in page.get("Contents", [])]
                if not objects:
                    raise ModelLoadError(f"{uri} is empty")
                for name in objects:
                    dest = staging / name[len(key) :]
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, name, str(dest))
            else:
                s3.download_file(bucket, key, str(staging))
        except ModelLoadError:
            raise
        except Exception as exc:
            raise ModelLoadError(f"cannot download {uri}: {exc}") from exc
        staging.rename(target)
    if expected_sha256:
        actual = file_sha256(target)
        if actual != expected_sha256.lower():
            raise ModelLoadError(
                f"{uri} has sha256 {actual}, not the expected {expected_sha256};"
                " refusing to load it"
            )
    return target


def load_detector(
    spec: str,
    *,
    device: str = "auto",
    precision: Precision = "auto",
    expected_sha256: str | None = None,
    cache_dir: Path = Path("/tmp/realtone-models"),
    s3: Any = None,
) -> Detector:
    """Resolve ``REALTONE_MODEL`` to a ready detector, or raise ``ModelLoadError``."""
    if spec.startswith(BUILTIN):
        folder = model_folder.models_dir() / spec.removeprefix(BUILTIN)
        if not model_folder.is_model_folder(folder):
            raise ModelLoadError(f"REALTONE_MODEL={spec!r}: {folder} is not a model folder")
        return model_folder.load_model_folder(folder, device, precision)
    if spec.startswith(PUBLISHED_AASIST):
        return model_folder.load_published_aasist(
            spec.removeprefix(PUBLISHED_AASIST), device, precision
        )
    if spec == DEV_TINY:
        model = build_dev_tiny()
        card = ModelCard(name=DEV_TINY, version="1", sha256=state_sha256(model), trained=False)
        return Detector.prepare(model, card, device, precision)
    if spec.startswith("s3://"):
        uri, _, fragment = spec.partition("#")
        pinned = expected_sha256 or (fragment.removeprefix("sha256=") if fragment else None)
        if s3 is None:
            raise ModelLoadError("an s3:// model needs an S3 client")
        path = fetch_s3(uri, cache_dir, pinned, s3)
    else:
        path = Path(spec).expanduser()
        if not path.exists():
            raise ModelLoadError(
                f"REALTONE_MODEL={spec!r}: no such file or directory"
                f" (use a directory, a .pth file, an s3:// URI or {DEV_TINY!r})"
            )
        if expected_sha256 and file_sha256(path) != expected_sha256.lower():
            raise ModelLoadError(f"{path} does not have the expected sha256 {expected_sha256}")
    if model_folder.is_model_folder(path):
        return model_folder.load_model_folder(path, device, precision)
    model, card = load_directory(path) if path.is_dir() else load_state_dict_file(path)
    return Detector.prepare(model, card, device, precision, _calibration_for(path))


def calibration_path(checkpoint: Path) -> Path:
    """Where a checkpoint's calibration lives: inside a directory, beside a file."""
    if checkpoint.is_dir():
        return checkpoint / CALIBRATION_FILE
    return checkpoint.with_name(checkpoint.name + "." + CALIBRATION_FILE)


def _calibration_for(checkpoint: Path) -> Calibration | None:
    path = calibration_path(checkpoint)
    if not path.exists():
        return None
    try:
        return Calibration.load(path)
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{path} is not a valid calibration: {exc}") from exc
