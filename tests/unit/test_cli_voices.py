"""`realtone voices` without a network: against the in-memory API of test_cli (its analyses)
with the voice routes added."""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from realtone_cli import main
from realtone_cli.client import Client
from realtone_cli.voices import main_speaker, parse_ref
from tests.unit import test_cli
from tests.unit.test_cli import FakeService

# test_cli's fixtures: a private config directory (autouse), a saved session, a clip.
config_home = test_cli.config_home
logged_in = test_cli.logged_in
audio_file = test_cli.clip

ANALYSIS = "0b0f5f0e-5c2a-4f7e-9d3e-2a6d1f0c9b11"


class VoiceService(FakeService):
    """FakeService with speakers in its results and the /v1/voices routes."""

    def __init__(self) -> None:
        super().__init__(retry_after="0")
        self.voices: dict[str, dict[str, Any]] = {}
        self.searches: list[dict[str, Any]] = []
        self.analyses[ANALYSIS] = {"id": ANALYSIS, "filename": "old.wav"}
        self.polls[ANALYSIS] = 99

    def document(self, ident: str) -> dict[str, Any]:
        doc = super().document(ident)
        if doc["status"] == "completed":
            # Speaker 1 speaks most here: the CLI must pick it, whatever the numbering.
            doc["summary"]["speakers"] = [
                {"speaker": 0, "seconds": 2.0, "score": 0.1, "verdict": "real"},
                {"speaker": 1, "seconds": 9.5, "score": 0.2, "verdict": "real"},
            ]
        return doc

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if not path.startswith("/v1/voices"):
            return super().__call__(request)
        self.log.append(request)
        if path == "/v1/voices" and method == "POST":
            body = json.loads(request.content)
            voice = {
                "id": str(uuid.uuid4()),
                "name": body["name"],
                "sources": body["sources"],
                "created_at": "2025-01-02T03:04:05Z",
            }
            self.voices[voice["id"]] = voice
            return httpx.Response(201, json=voice)
        if path == "/v1/voices":
            return httpx.Response(200, json={"items": list(self.voices.values())})
        if path == "/v1/voices/search":
            body = json.loads(request.content)
            self.searches.append(body)
            page = 1 if body.get("cursor") else 0
            hit = {
                "analysis_id": str(uuid.uuid4()),
                "filename": f"call-{page}.wav",
                "created_at": "2025-01-02T03:04:05Z",
                "speaker": page,
                "similarity": 0.91234,
                "verdict": "likely_fake" if page else "real",
            }
            return httpx.Response(
                200, json={"items": [hit], "next_cursor": None if page else "next"}
            )
        ident = path.rsplit("/", 1)[1]
        if method == "DELETE" and ident in self.voices:
            del self.voices[ident]
            return httpx.Response(204)
        return httpx.Response(404, json={"error": {"code": "not_found", "message": "No"}})


@pytest.fixture
def voices_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[VoiceService]:
    fake = VoiceService()
    monkeypatch.setattr(
        main, "Client", functools.partial(Client, transport=httpx.MockTransport(fake))
    )
    yield fake


def test_refs_and_the_main_speaker():
    assert parse_ref(ANALYSIS) == (ANALYSIS, None)
    assert parse_ref(ANALYSIS.upper() + ":3") == (ANALYSIS, 3)
    assert parse_ref("clip.wav") is None and parse_ref(ANALYSIS + ":x") is None
    assert main_speaker({"summary": None}) == 0
    speakers = [{"speaker": 0, "seconds": 1.0}, {"speaker": 2, "seconds": 4.0}]
    assert main_speaker({"summary": {"speakers": speakers}}) == 2


@pytest.mark.parametrize("action", ["list", "enroll", "delete", "search"])
def test_every_voices_action_explains_itself(action, capsys):
    with pytest.raises(SystemExit) as exit_:
        main.main(["voices", action, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: realtone voices {action}")
    assert "examples:" in out and "exit codes" in out and "zero-retention" in out


@pytest.mark.usefixtures("logged_in")
def test_enroll_analyses_files_first_then_uses_their_main_speaker(voices_api, audio_file, capsys):
    assert main.main(["voices", "enroll", "Alice", str(audio_file), f"{ANALYSIS}:0"]) == 0
    out = capsys.readouterr().out
    enrolment = json.loads(next(r for r in voices_api.log if r.url.path == "/v1/voices").content)
    uploaded = next(i for i in voices_api.analyses if i != ANALYSIS)
    assert enrolment == {
        "name": "Alice",
        "sources": [
            {"analysis_id": uploaded, "speaker": 1},
            {"analysis_id": ANALYSIS, "speaker": 0},
        ],
    }
    assert f"from analysis {uploaded} speaker 1 ({audio_file})" in out
    assert re.search(r"enrolled 'Alice' as voice [0-9a-f-]{36}", out)


@pytest.mark.usefixtures("logged_in")
def test_search_by_analysis_prints_a_table_and_follows_pages(voices_api, capsys):
    assert main.main(["voices", "search", ANALYSIS, "--all", "--limit", "1"]) == 0
    captured = capsys.readouterr()
    # No speaker given: the main one (speaker 1 speaks most in this analysis).
    assert voices_api.searches[0] == {"analysis_id": ANALYSIS, "speaker": 1, "limit": 1}
    assert voices_api.searches[1]["cursor"] == "next"
    lines = captured.out.splitlines()
    assert lines[0].split() == [
        "created",
        "(UTC)",
        "similarity",
        "speaker",
        "verdict",
        "file",
        "analysis",
    ]
    assert "0.912" in lines[1] and "call-0.wav" in lines[1] and "real" in lines[1]
    assert "likely_fake" in lines[2] and "call-1.wav" in lines[2]
    assert f"speaker 1 of analysis {ANALYSIS}" in captured.err


@pytest.mark.usefixtures("logged_in")
def test_search_by_voice_json_list_and_delete(voices_api, capsys):
    voice = "6d4c0a4e-9a4e-4c51-8f0c-2b1f3e9d7a10"
    assert main.main(["voices", "search", "--voice", voice, "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert voices_api.searches == [{"voice_id": voice, "limit": 20}]
    assert len(found["items"]) == 1 and found["next_cursor"] == "next"

    assert main.main(["voices", "enroll", "Bob", f"{ANALYSIS}:2"]) == 0
    capsys.readouterr()
    assert main.main(["voices", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)["items"]
    assert listed["name"] == "Bob"
    assert main.main(["voices", "delete", listed["id"]]) == 0
    assert main.main(["voices", "list"]) == 0
    assert "no voices enrolled yet" in capsys.readouterr().out
    assert main.main(["voices", "delete", listed["id"]]) == 2
    assert f"no such voice: {listed['id']}" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["voices", "search"],
        ["voices", "search", ANALYSIS, "--voice", ANALYSIS],
        ["voices", "search", "no-such-file.wav"],
    ],
)
@pytest.mark.usefixtures("logged_in")
def test_search_needs_exactly_one_query(voices_api, argv, capsys):
    assert main.main(argv) == 2
    assert capsys.readouterr().err.startswith("error: ")
    assert voices_api.searches == []
