-- Retried pings are recognised from the install-day row the aggregator reads and writes anyway:
-- it keeps the ids of the pings counted in it (16 bytes each, concatenated). The separate
-- seen_pings table cost an index probe and an insert per ping, about a quarter of a flush.
ALTER TABLE install_days ADD COLUMN ping_ids bytea NOT NULL DEFAULT ''::bytea;
DELETE FROM census_partitioned_tables WHERE table_name = 'seen_pings';
DROP TABLE seen_pings;

-- install_activity rows are rewritten on every new install day. Without an index on last_day
-- (the retention worker's batched DELETE scans instead, once an hour) and with free space on each
-- page, those rewrites are heap-only (HOT) updates that touch no index.
DROP INDEX install_activity_last_day;
ALTER TABLE install_activity SET (fillfactor = 80);

-- No table has the 'dedup' horizon class any more.
ALTER TABLE census_partitioned_tables
    DROP CONSTRAINT census_partitioned_tables_horizon_class_check,
    ADD CONSTRAINT census_partitioned_tables_horizon_class_check
        CHECK (horizon_class IN ('install', 'rollup'));
