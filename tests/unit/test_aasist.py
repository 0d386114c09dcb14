"""AASIST / AASIST-L: our implementation reproduces the published checkpoints' outputs as the
authors' own code computes them (tests/data/aasist_reference.json), and bad model directories
fail at load with a message naming the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from realtone_scorer.families.aasist import (
    AASIST,
    AASIST_L,
    PUBLISHED,
    AasistNet,
    file_sha256,
    load_aasist,
    load_aasist_state,
    read_params,
)
from realtone_scorer.families.base import WINDOW_SAMPLES, ModelLoadError
from tests.audio import speechlike

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "models" / "aasist"
REFERENCE = json.loads((ROOT / "tests" / "data" / "aasist_reference.json").read_text())


def build_input(recipe: dict[str, Any], samples: int, rate: int) -> np.ndarray:
    """One reference input from its recipe in the JSON (float32, ``samples`` long)."""
    kind = recipe["kind"]
    if kind == "gaussian_noise":
        noise = np.random.default_rng(recipe["seed"]).standard_normal(samples)
        return (noise * recipe["std"]).astype(np.float32)
    if kind == "exponential_sine_sweep":
        t = np.arange(samples) / rate
        duration = samples / rate
        growth = np.log(recipe["f1_hz"] / recipe["f0_hz"])
        phase = (
            2 * np.pi * recipe["f0_hz"] * duration / growth * (np.exp(t / duration * growth) - 1)
        )
        return (recipe["amplitude"] * np.sin(phase)).astype(np.float32)
    if kind == "tests.audio.speechlike":
        return speechlike(recipe["seconds"], rate=rate, seed=recipe["seed"])[:, 0]
    raise AssertionError(f"unknown recipe kind {kind}")


@pytest.fixture(scope="module")
def inputs() -> torch.Tensor:
    samples, rate = REFERENCE["samples"], REFERENCE["sample_rate"]
    x = np.stack([build_input(r, samples, rate) for r in REFERENCE["inputs"]])
    assert x.shape == (len(REFERENCE["inputs"]), samples)
    return torch.from_numpy(x)


@pytest.fixture(scope="module", params=["AASIST", "AASIST-L"])
def published(request: pytest.FixtureRequest) -> tuple[str, AasistNet]:
    return request.param, load_aasist(MODELS, request.param)


@pytest.fixture(scope="module")
def outputs(published, inputs) -> tuple[str, torch.Tensor, torch.Tensor]:
    """One pass through the public path: the class logits (caught from ``net``) and the spoof
    logits ``forward`` returns."""
    variant, model = published
    assert not model.training
    caught: list[torch.Tensor] = []
    hook = model.net.register_forward_hook(lambda _module, _args, out: caught.append(out))
    try:
        with torch.inference_mode():
            spoof = model(model.features(inputs))
    finally:
        hook.remove()
    return variant, caught[0], spoof


def test_matches_the_reference_implementation(outputs):
    variant, logits, _ = outputs
    expected = [REFERENCE["logits"][variant][r["name"]] for r in REFERENCE["inputs"]]
    torch.testing.assert_close(
        logits.double(),
        torch.tensor(expected, dtype=torch.float64),
        atol=REFERENCE["tolerance"],
        rtol=0,
    )


def test_forward_is_the_spoof_logit(outputs):
    _, logits, spoof = outputs
    # The reference inputs are already 64,600 long, so features() leaves them unchanged.
    assert spoof.shape == (len(REFERENCE["inputs"]),) and spoof.dtype == torch.float32
    assert torch.equal(spoof, logits[:, 0] - logits[:, 1])


def test_shipped_files_are_the_published_ones():
    sums = dict(line.split()[::-1] for line in (MODELS / "SHA256SUMS").read_text().splitlines())
    for variant in PUBLISHED:
        assert sums[f"{variant}.pth"] == REFERENCE["weights_sha256"][variant]
        assert file_sha256(MODELS / f"{variant}.pth") == sums[f"{variant}.pth"]
        assert read_params(MODELS / f"{variant}.json") == PUBLISHED[variant]
    assert "NAVER Corp." in (MODELS / "LICENSE").read_text()


def test_parameter_counts():
    def count(model: AasistNet) -> int:
        return sum(p.numel() for p in model.parameters())

    assert count(AasistNet(AASIST)) == 297_866
    assert count(AasistNet(AASIST_L)) == 85_306  # as stated in the paper


def test_features_repeat_pad_the_window():
    model = AasistNet(AASIST_L)
    window = torch.arange(WINDOW_SAMPLES, dtype=torch.float32).unsqueeze(0) / WINDOW_SAMPLES
    padded = model.features(torch.cat([window, -window]))
    assert padded.shape == (2, 64_600) and padded.dtype == torch.float32
    assert torch.equal(padded[0, :WINDOW_SAMPLES], window[0])
    assert torch.equal(padded[0, WINDOW_SAMPLES:], window[0, :600])
    assert torch.equal(padded[1], -padded[0])


def test_frequency_masking_never_acts_in_eval():
    model = AasistNet(AASIST_L).eval()
    # Any length past the filter works; a short one keeps the test fast.
    x = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 8_000)).astype(np.float32))
    with torch.inference_mode():
        assert torch.equal(model.net(x, mask_bands=True), model.net(x))


# --- load failures: each names the file and says what is wrong -------------------------------


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "aasist"
    target.mkdir()
    for name in ("AASIST-L.pth", "AASIST-L.json", "AASIST.json", "SHA256SUMS", "LICENSE"):
        shutil.copy(MODELS / name, target / name)
    return target


def _rehash(directory: Path, name: str) -> None:
    """Rewrite ``name``'s SHA256SUMS line so it matches the (tampered) file."""
    sums = directory / "SHA256SUMS"
    lines = [
        f"{file_sha256(directory / name)}  {name}" if line.endswith(f"  {name}") else line
        for line in sums.read_text().splitlines()
    ]
    sums.write_text("\n".join(lines) + "\n")


def test_copy_loads(copy):
    assert isinstance(load_aasist(copy, "AASIST-L"), AasistNet)


def test_truncated_weights_fail_the_checksum(copy):
    weights = copy / "AASIST-L.pth"
    weights.write_bytes(weights.read_bytes()[:100_000])
    with pytest.raises(ModelLoadError, match=r"AASIST-L\.pth has sha256 .*100000 bytes.*truncated"):
        load_aasist(copy, "AASIST-L")


def test_truncated_weights_with_matching_checksum_are_unreadable(copy):
    weights = copy / "AASIST-L.pth"
    weights.write_bytes(weights.read_bytes()[:100_000])
    _rehash(copy, "AASIST-L.pth")
    with pytest.raises(ModelLoadError, match=r"AASIST-L\.pth is not a readable PyTorch state dict"):
        load_aasist(copy, "AASIST-L")


def test_flipped_byte_fails_the_checksum(copy):
    weights = copy / "AASIST-L.pth"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match=r"AASIST-L\.pth has sha256 [0-9a-f]{64} .* but"):
        load_aasist(copy, "AASIST-L")


def test_missing_licence(copy):
    (copy / "LICENSE").unlink()
    with pytest.raises(ModelLoadError, match=r"LICENSE is missing"):
        load_aasist(copy, "AASIST-L")


def test_missing_weights(copy):
    with pytest.raises(ModelLoadError, match=r"SHA256SUMS has no entry for AASIST-XL\.pth"):
        load_aasist(copy, "AASIST-XL")
    (copy / "AASIST-L.pth").unlink()
    with pytest.raises(ModelLoadError, match=r"AASIST-L\.pth is missing"):
        load_aasist(copy, "AASIST-L")


def test_wrong_variant_json_is_a_shape_mismatch(copy):
    shutil.copy(copy / "AASIST.json", copy / "AASIST-L.json")
    _rehash(copy, "AASIST-L.json")
    with pytest.raises(ModelLoadError, match=r"AASIST-L\.pth does not match .*size mismatch"):
        load_aasist(copy, "AASIST-L")


def test_bad_json(copy):
    (copy / "AASIST-L.json").write_text('{"nb_samp": 64600,')
    _rehash(copy, "AASIST-L.json")
    with pytest.raises(ModelLoadError, match=r"AASIST-L\.json is not valid JSON"):
        load_aasist(copy, "AASIST-L")
    (copy / "AASIST-L.json").write_text('{"nb_samp": 64600}')
    _rehash(copy, "AASIST-L.json")
    with pytest.raises(ModelLoadError, match=r"AASIST-L\.json does not describe .*missing keys"):
        load_aasist(copy, "AASIST-L")


def test_fine_tuned_state_loads_by_expected_sha256(tmp_path):
    model = AasistNet(AASIST_L)
    path = tmp_path / "tuned.pth"
    torch.save(model.net.state_dict(), path)
    loaded = load_aasist_state(path, AASIST_L, file_sha256(path))
    for name, tensor in model.net.state_dict().items():
        assert torch.equal(loaded.net.state_dict()[name], tensor)
    with pytest.raises(ModelLoadError, match=r"tuned\.pth has sha256 .* but 0{64} is expected"):
        load_aasist_state(path, AASIST_L, "0" * 64)
    torch.save({"pos_S": model.net.pos_S.detach()}, path)
    with pytest.raises(
        ModelLoadError, match=r"tuned\.pth does not match .*missing keys master1, master2, first_bn"
    ):
        load_aasist_state(path, AASIST_L, file_sha256(path))
