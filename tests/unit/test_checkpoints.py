"""Every checkpoint format reloads to the same weights and the same scores; bad ones fail
at start with a message that says what is wrong."""

from __future__ import annotations

import json

import boto3
import numpy as np
import pytest
import torch
from moto import mock_aws

from realtone_scorer.checkpoints import (
    ModelLoadError,
    build_dev_tiny,
    file_sha256,
    load_detector,
    save_directory,
    save_state_dict,
)
from realtone_scorer.detector import WavLMDetector, tiny_config
from tests.audio import speechlike

CARD = {"name": "unit-test-model", "version": "7", "trained": True}


@pytest.fixture(scope="module")
def windows() -> np.ndarray:
    return np.stack([speechlike(4.0, seed=i)[:, 0] for i in range(3)])


@pytest.fixture(scope="module")
def reference(windows):
    detector = load_detector("dev:tiny", precision="fp32")
    return detector, detector.score(windows)


def test_dev_tiny_is_deterministic_and_marked_untrained(reference, windows):
    detector, scores = reference
    again = load_detector("dev:tiny", precision="fp32")
    assert np.array_equal(again.score(windows), scores)
    assert detector.card.trained is False and detector.card.name == "dev:tiny"
    assert ((scores > 0) & (scores < 1)).all()


def test_directory_round_trip(tmp_path, reference, windows):
    detector, scores = reference
    save_directory(build_dev_tiny(), tmp_path / "model", CARD)
    loaded = load_detector(str(tmp_path / "model"), precision="fp32")
    assert np.array_equal(loaded.score(windows), scores)
    assert loaded.card.sha256 == detector.card.sha256
    assert (loaded.card.name, loaded.card.version, loaded.card.trained) == (
        "unit-test-model",
        "7",
        True,
    )


@pytest.mark.parametrize("with_sidecar", [True, False])
def test_state_dict_round_trip(tmp_path, reference, windows, with_sidecar):
    detector, scores = reference
    path = tmp_path / "detector.pth"
    save_state_dict(build_dev_tiny(), path, CARD)
    if not with_sidecar:
        # Without its JSON the config is inferred from the tensor shapes.
        (tmp_path / "detector.pth.json").unlink()
    loaded = load_detector(str(path), precision="fp32")
    assert np.array_equal(loaded.score(windows), scores)
    assert loaded.card.sha256 == detector.card.sha256
    assert loaded.card.name == ("unit-test-model" if with_sidecar else "detector")


def test_bf16_stays_close_to_fp32(reference, windows):
    _, scores = reference
    bf16 = load_detector("dev:tiny", precision="bf16").score(windows)
    assert np.abs(bf16 - scores).max() <= 0.02


def test_s3_checkpoint_is_fetched_once_and_verified(tmp_path, reference, windows):
    detector, scores = reference
    local = tmp_path / "detector.pth"
    save_state_dict(build_dev_tiny(), local, CARD)
    sha = file_sha256(local)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        s3.upload_file(str(local), "models", "v1/detector.pth")
        cache = tmp_path / "cache"
        loaded = load_detector(
            f"s3://models/v1/detector.pth#sha256={sha}", precision="fp32", cache_dir=cache, s3=s3
        )
        assert np.array_equal(loaded.score(windows), scores)
        # Cached: a second container start in the same sandbox reads the local copy.
        s3.delete_object(Bucket="models", Key="v1/detector.pth")
        again = load_detector(
            f"s3://models/v1/detector.pth#sha256={sha}", precision="fp32", cache_dir=cache, s3=s3
        )
        assert again.card.sha256 == detector.card.sha256
        with pytest.raises(ModelLoadError, match="not the expected"):
            load_detector("s3://models/v1/detector.pth#sha256=" + "0" * 64, cache_dir=cache, s3=s3)
        with pytest.raises(ModelLoadError, match="cannot download"):
            load_detector("s3://models/missing.pth", cache_dir=cache, s3=s3)


def test_s3_directory_checkpoint(tmp_path, reference, windows):
    _, scores = reference
    save_directory(build_dev_tiny(), tmp_path / "dir", CARD)
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        for f in (tmp_path / "dir").iterdir():
            s3.upload_file(str(f), "models", f"tiny/{f.name}")
        loaded = load_detector(
            "s3://models/tiny/", precision="fp32", cache_dir=tmp_path / "c", s3=s3
        )
        assert np.array_equal(loaded.score(windows), scores)


def test_corrupt_and_mismatched_checkpoints_fail_clearly(tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a checkpoint")
    with pytest.raises(ModelLoadError, match="cannot read checkpoint"):
        load_detector(str(corrupt))

    wrong = tmp_path / "wrong.pth"
    state = build_dev_tiny().state_dict()
    del state["head.bias"]
    torch.save(state, wrong)
    with pytest.raises(ModelLoadError, match="does not match"):
        load_detector(str(wrong))

    other = tmp_path / "other.pth"
    torch.save({"encoder.weight": torch.zeros(3)}, other)
    with pytest.raises(ModelLoadError, match="not a WavLM detector"):
        load_detector(str(other))

    directory = tmp_path / "dir"
    save_directory(build_dev_tiny(), directory, CARD)
    bigger = tiny_config()
    bigger.hidden_size = 48
    torch.save(torch.nn.Linear(48, 1).state_dict(), directory / "head.pt")
    with pytest.raises(ModelLoadError, match="head"):
        load_detector(str(directory))
    (directory / "head.pt").unlink()
    with pytest.raises(ModelLoadError, match=r"head\.pt"):
        load_detector(str(directory))

    with pytest.raises(ModelLoadError, match="no such file"):
        load_detector(str(tmp_path / "nowhere"))

    sidecar = tmp_path / "side.pth"
    save_state_dict(build_dev_tiny(), sidecar, CARD)
    (tmp_path / "side.pth.json").write_text(
        json.dumps({"config": {**tiny_config().to_dict(), "hidden_size": 64}})
    )
    with pytest.raises(ModelLoadError):
        load_detector(str(sidecar))


def test_weights_hash_ignores_the_format(tmp_path):
    a = WavLMDetector(tiny_config())
    b = WavLMDetector(tiny_config())
    b.load_state_dict(a.state_dict())
    from realtone_scorer.detector import state_sha256

    assert state_sha256(a) == state_sha256(b)
    with torch.no_grad():
        b.head.bias.add_(1e-3)
    assert state_sha256(a) != state_sha256(b)
