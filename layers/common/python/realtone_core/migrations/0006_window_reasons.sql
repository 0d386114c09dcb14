-- Why a window could not be judged (no_speech, music_or_noise, clipped, too_short); NULL when
-- it was scored. Results stored before this have none.
ALTER TABLE analysis_chunks ADD COLUMN reason text
    CHECK (reason IN ('no_speech', 'music_or_noise', 'clipped', 'too_short'));
