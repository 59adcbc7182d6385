-- One writer per install. The aggregator reads an install's day rows and writes them back whole,
-- which is exact only while one consumer owns the install: one consumer group, reading one topic
-- whose partition count (which, with the key install_id, decides the partition) never changes.
-- The aggregator records that source here on its first start and refuses to run against another.
CREATE TABLE rollup_source (
    only_row        boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    consumer_group  text    NOT NULL,
    topic           text    NOT NULL,
    partitions      integer NOT NULL CHECK (partitions > 0),
    recorded_at     timestamptz NOT NULL DEFAULT now()
);
GRANT SELECT, INSERT ON rollup_source TO census_aggregator;
