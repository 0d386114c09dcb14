-- When the sweep last put a stuck analysis back on the queue.
ALTER TABLE analyses ADD COLUMN requeued_at timestamptz;
CREATE INDEX analyses_unfinished ON analyses (status, updated_at)
    WHERE status IN ('awaiting_upload', 'queued', 'processing');
