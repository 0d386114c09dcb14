CREATE TABLE users (
    id uuid PRIMARY KEY,
    email text NOT NULL UNIQUE,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refresh_tokens (
    jti uuid PRIMARY KEY,
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    family_id uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);

CREATE TABLE analyses (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status text NOT NULL CHECK (
        status IN ('awaiting_upload', 'queued', 'processing', 'completed', 'failed', 'expired')
    ),
    filename text NOT NULL,
    content_type text NOT NULL,
    size_bytes bigint NOT NULL CHECK (size_bytes > 0),
    object_key text NOT NULL UNIQUE,
    upload_expires_at timestamptz NOT NULL,
    idempotency_key text,
    duration_seconds double precision,
    processing_ms integer,
    model jsonb,
    summary jsonb,
    timings jsonb,
    error_code text,
    error_message text,
    claim_token uuid,
    claimed_at timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX analyses_owner_newest ON analyses (owner_id, created_at DESC, id DESC);
CREATE UNIQUE INDEX analyses_owner_idempotency
    ON analyses (owner_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE analysis_chunks (
    analysis_id uuid NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    chunk_id integer NOT NULL,
    start_time_seconds double precision NOT NULL,
    end_time_seconds double precision NOT NULL,
    score double precision,
    voiced boolean NOT NULL,
    PRIMARY KEY (analysis_id, chunk_id)
);
