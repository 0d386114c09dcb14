-- Identical uploads (same bytes, same model weights) reuse a stored result.
ALTER TABLE analyses ADD COLUMN content_sha256 text;
CREATE INDEX analyses_reusable ON analyses (content_sha256, (model ->> 'sha256'))
    WHERE status = 'completed';

-- Powertools idempotency records (see realtone_core.idempotency).
CREATE TABLE idempotency_records (
    id text PRIMARY KEY,
    status text NOT NULL,
    expiry_timestamp bigint NOT NULL,
    in_progress_expiry_timestamp bigint,
    response_data text,
    payload_hash text
);
CREATE INDEX idempotency_records_expiry ON idempotency_records (expiry_timestamp);
