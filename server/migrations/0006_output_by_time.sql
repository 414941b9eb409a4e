-- 0006: stored output by the time it was stored, so that a global storage budget can drop the
-- oldest output first without scanning every chunk.

CREATE INDEX session_output_by_time ON session_output (at_ms);
