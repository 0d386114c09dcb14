-- Reuse needs more than the same weights: a new calibration, precision or window and
-- threshold settings change the result. Rows scored before this have no key: never reused.
ALTER TABLE analyses ADD COLUMN scoring_key text;
DROP INDEX analyses_reusable;
CREATE INDEX analyses_reusable ON analyses (content_sha256, scoring_key)
    WHERE status = 'completed';
