-- Who is speaking (realtone_core.voices): one voice embedding per speaker of an analysis,
-- and the voices an account enrolled. Needs pgvector 0.8 or later (HNSW iterative scans);
-- on a server without it this migration stops here, saying so, and changes nothing.
DO $$
DECLARE
    available text;
BEGIN
    SELECT default_version INTO available FROM pg_available_extensions WHERE name = 'vector';
    IF available IS NULL THEN
        RAISE EXCEPTION 'RealTone needs the pgvector extension (CREATE EXTENSION vector), which'
            ' this PostgreSQL server does not have. Amazon RDS and Aurora PostgreSQL support it'
            ' (pgvector 0.8 or later); locally, make run and make test start a private Postgres'
            ' that has it when the configured one lacks it.';
    END IF;
    IF string_to_array(split_part(available, '-', 1), '.')::int[] < ARRAY[0, 8] THEN
        RAISE EXCEPTION 'RealTone needs pgvector 0.8 or later (this server has %): its voice'
            ' search uses HNSW iterative scans. Upgrade the extension (RDS and Aurora'
            ' PostgreSQL offer 0.8).', available;
    END IF;
END
$$;

CREATE EXTENSION IF NOT EXISTS vector;

-- One row per speaker the scorer found in a completed analysis: how long they speak and
-- their voice (a 256-d, L2-normalised speaker embedding). It lives as long as the analysis's
-- audio: deleted with the analysis or the account (cascades), and when the audio is deleted
-- under the account's retention; never stored for zero-retention analyses.
CREATE TABLE analysis_speakers (
    analysis_id uuid NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    speaker integer NOT NULL CHECK (speaker >= 0),
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    seconds real NOT NULL CHECK (seconds >= 0),
    embedding vector(256) NOT NULL,
    -- The analysis's created_at: search results are listed newest first.
    created_at timestamptz NOT NULL,
    PRIMARY KEY (analysis_id, speaker)
);
-- Nearest voices of an account with many analyses (pgvector HNSW, iteratively scanned
-- with the owner as a filter). ef_construction 128 (default 64): on 100,000 random voices
-- the default graph lost a match in ~1% of searches, this one none (bench/voices.py), for
-- a slower insert (~1 ms) and build.
CREATE INDEX analysis_speakers_embedding ON analysis_speakers
    USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 128);
-- An account's speakers (exact search of a small account, counting, paging).
CREATE INDEX analysis_speakers_owner
    ON analysis_speakers (owner_id, created_at DESC, analysis_id DESC);

-- Voices an account enrolled: a name and the mean voice of the speakers it was enrolled
-- from. Kept until the user deletes it or the account (cascade), whatever happens to the
-- analyses it came from.
CREATE TABLE voices (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    embedding vector(256) NOT NULL,
    -- [{"analysis_id": ..., "speaker": ...}] as enrolled.
    sources jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voices_owner ON voices (owner_id, created_at DESC, id DESC);
