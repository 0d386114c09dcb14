-- The object the scorer read (its ETag; content_sha256 exists), so an object put in its
-- place after scoring is noticed and never served as the scored audio.
ALTER TABLE analyses ADD COLUMN object_etag text;
ALTER TABLE analyses ADD COLUMN audio_replaced_at timestamptz;
-- When the sweep looked for (and deleted) an object uploaded after the analysis expired.
ALTER TABLE analyses ADD COLUMN late_object_checked_at timestamptz;
-- Per-owner caps on analyses in flight and fair scheduling count these.
CREATE INDEX analyses_owner_unfinished ON analyses (owner_id, status)
    WHERE status IN ('awaiting_upload', 'queued', 'processing');
CREATE INDEX analyses_expired_unchecked ON analyses (upload_expires_at)
    WHERE status = 'expired' AND late_object_checked_at IS NULL;
-- Results are reused only within one owner's analyses.
DROP INDEX analyses_reusable;
CREATE INDEX analyses_reusable ON analyses (owner_id, content_sha256, scoring_key)
    WHERE status = 'completed';
