"""The deployment artefacts pin exactly what pyproject.toml pins, and ship the right code."""

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _name(requirement: str) -> str:
    return re.split(r"[=<>\[ ]", requirement, maxsplit=1)[0].lower()


PINS = {
    _name(d): d
    for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
}


@pytest.mark.parametrize(
    "path",
    [
        "functions/api/requirements.txt",
        "layers/common/python/requirements.txt",
        "functions/scorer/requirements.txt",
    ],
)
def test_requirement_files_match_pyproject(path):
    lines = [
        line.strip()
        for line in (ROOT / path).read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines
    for line in lines:
        assert line == PINS[_name(line)], f"{path}: {line} differs from pyproject.toml"


def test_every_pin_is_exact():
    assert all("==" in d for d in PINS.values())


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "Dockerfile.gpu"])
def test_scorer_images_copy_the_core_and_the_scorer(dockerfile):
    text = (ROOT / "functions/scorer" / dockerfile).read_text()
    assert "COPY layers/common/python/realtone_core" in text
    assert "COPY functions/scorer/realtone_scorer" in text
    assert "functions/scorer/requirements.txt" in text
    # The default model ships in the image, beside the package (models_dir()).
    destination = re.search(r"COPY functions/scorer/realtone_scorer (\S+)/realtone_scorer", text)
    assert destination and f"COPY models {destination[1]}/models" in text


def test_the_cli_declares_the_audio_types_the_api_accepts():
    # The CLI installs alone and may not import server code, so it keeps its own table.
    from realtone_cli.upload import CONTENT_TYPES
    from realtone_core.formats import EXTENSION_TYPES

    assert CONTENT_TYPES == EXTENSION_TYPES
