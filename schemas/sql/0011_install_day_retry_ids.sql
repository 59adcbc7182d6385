-- Retries of pings that came without a ping_id (ingest derives an id from the ping's content): the
-- ids sighted in the last minutes of the install's day, each with its last sighting (16 bytes of
-- id and 4 of seconds after the day's midnight, big-endian), so a repeat within the retry window
-- is counted once and identical pings further apart both count. Bounded by the aggregator
-- (services/aggregator/dedup.py), as ping_ids now is.
ALTER TABLE install_days ADD COLUMN retry_ids bytea NOT NULL DEFAULT ''::bytea;
