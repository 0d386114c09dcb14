-- How long an account keeps its uploaded audio: 1..3650 days, or 0 = zero-retention (the
-- audio is deleted as soon as it is scored). The API says "zero" for 0.
ALTER TABLE users ADD COLUMN retention_days integer NOT NULL DEFAULT 30
    CHECK (retention_days BETWEEN 0 AND 3650);

-- Set when an analysis is created under zero-retention (its upload carries the S3 tag of the
-- short lifecycle rule) or its account switched to zero-retention while its audio was still
-- kept; never cleared: an upload made under zero-retention is not kept later.
ALTER TABLE analyses ADD COLUMN zero_retention boolean NOT NULL DEFAULT false;
-- When and why the audio object was deleted while the result stays.
ALTER TABLE analyses ADD COLUMN audio_deleted_at timestamptz;
ALTER TABLE analyses ADD COLUMN audio_deleted_reason text
    CHECK (audio_deleted_reason IN ('zero_retention', 'retention_period'));
-- For 'retention_period': the account's retention (days) the audio was kept for.
ALTER TABLE analyses ADD COLUMN audio_retention_days integer;

-- The sweep's two questions: which zero-retention audio is still kept, and which audio of an
-- account is older than its retention (scored or failed analyses whose audio is kept).
CREATE INDEX analyses_zero_retention_kept ON analyses (id)
    WHERE zero_retention AND audio_deleted_at IS NULL AND status IN ('completed', 'failed');
CREATE INDEX analyses_audio_kept ON analyses (owner_id, created_at)
    WHERE audio_deleted_at IS NULL AND status IN ('completed', 'failed');

-- Whose upload a scorer idempotency record is about (from the object key), so deleting an
-- account deletes its records too. Records made before this have none; they expire.
ALTER TABLE idempotency_records ADD COLUMN owner_id uuid;
CREATE INDEX idempotency_records_owner ON idempotency_records (owner_id)
    WHERE owner_id IS NOT NULL;

-- Deleting an account deletes its user row; every table that refers to users (refresh_tokens,
-- analyses, and later ones) goes with it by ON DELETE CASCADE, and no foreign key may hold a
-- row back (tests/integration/test_account.py checks every foreign key of the schema).
