"""Voices without a database: embeddings as pgvector text, the verdict of a hit, the search
and enrolment bodies, and the documentation of every error code."""

from __future__ import annotations

import math
import re
import uuid
from pathlib import Path

import pytest
from pydantic import ValidationError

from realtone_api.schemas import VoiceCreate, VoiceSearchRequest
from realtone_core.errors import ErrorCode
from realtone_core.voices import EMBEDDING_DIM, MATCH_THRESHOLD, _verdict, vector_literal

ROOT = Path(__file__).resolve().parents[2]


def test_the_contract_constants():
    assert EMBEDDING_DIM == 256 and 0 < MATCH_THRESHOLD < 1


def test_embeddings_become_pgvector_text_and_bad_ones_are_refused():
    text = vector_literal([0.5, -0.25] + [0.0] * (EMBEDDING_DIM - 2))
    assert text.startswith("[0.5,-0.25,0.0,") and text.endswith("]")
    assert len(text[1:-1].split(",")) == EMBEDDING_DIM
    with pytest.raises(ValueError, match="256 values, not 3"):
        vector_literal([1.0, 2.0, 3.0])
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="finite"):
            vector_literal([bad] * EMBEDDING_DIM)


def test_a_hit_carries_its_speakers_verdict_else_the_analysis():
    speakers = [{"speaker": 0, "verdict": "real"}, {"speaker": 1, "verdict": "fake"}]
    summary = {"verdict": "likely_fake", "speakers": speakers}
    assert _verdict(summary, 1) == "fake" and _verdict(summary, 0) == "real"
    assert _verdict(summary, 2) == "likely_fake"
    assert _verdict({"verdict": "real"}, 0) == "real"
    assert _verdict(None, 0) is None


def test_a_search_is_by_a_speaker_or_by_a_voice():
    ident = uuid.uuid4()
    by_speaker = VoiceSearchRequest.model_validate({"analysis_id": str(ident), "speaker": 1})
    assert (by_speaker.analysis_id, by_speaker.speaker, by_speaker.limit) == (ident, 1, 20)
    assert VoiceSearchRequest.model_validate({"voice_id": str(ident)}).voice_id == ident
    for body in (
        {},
        {"speaker": 0},
        {"analysis_id": str(ident)},
        {"analysis_id": str(ident), "speaker": 0, "voice_id": str(ident)},
        {"voice_id": str(ident), "limit": 101},
    ):
        with pytest.raises(ValidationError):
            VoiceSearchRequest.model_validate(body)


def test_a_voice_name_is_trimmed_and_not_blank():
    source = {"analysis_id": str(uuid.uuid4()), "speaker": 0}
    assert VoiceCreate.model_validate({"name": " Alice ", "sources": [source]}).name == "Alice"
    with pytest.raises(ValidationError):
        VoiceCreate.model_validate({"name": " \t", "sources": [source]})


def test_every_error_code_is_in_the_readmes_error_codes():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r"`([a-z_]+)`", section))
    missing = {code.value for code in ErrorCode} - documented
    assert not missing, f"add to the README's Error codes: {sorted(missing)}"
