-- Who speaks in each window (realtone_scorer.speakers): speaker 0, 1, … of its analysis, or
-- NULL when no voice could be embedded or the window holds two voices (overlap = true).
ALTER TABLE analysis_chunks ADD COLUMN speaker integer CHECK (speaker >= 0);
ALTER TABLE analysis_chunks ADD COLUMN overlap boolean NOT NULL DEFAULT false;
