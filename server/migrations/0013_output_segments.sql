-- Output data moves out of the database into append-only segment files (the data dir's
-- `output/`, see store/segments.rs): a chunk's row says which segment holds its bytes and where
-- they begin. Rows stored before keep their data inline. A chunk with neither data nor a
-- segment is a gap (bytes lost on the agent), as before.
ALTER TABLE session_output ADD COLUMN segment INTEGER;
ALTER TABLE session_output ADD COLUMN seg_pos INTEGER;

-- Which segments are still referenced (segment files are deleted once nothing is).
CREATE INDEX session_output_by_segment ON session_output (segment) WHERE segment IS NOT NULL;
