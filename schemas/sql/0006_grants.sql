-- Least privilege: the aggregator writes, retention purges, analysts read rollups only.
-- census_ingest talks to Kafka alone and gets nothing here.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    install_days, seen_pings, install_activity, consumer_offsets,
    rollup_active_installs, rollup_activity, rollup_attr_values, rollup_counts, rollup_events
    TO census_aggregator;
GRANT SELECT, DELETE ON install_days, seen_pings, install_activity,
    rollup_active_installs, rollup_activity, rollup_attr_values, rollup_counts, rollup_events
    TO census_retention;
GRANT SELECT ON rollup_active_installs, rollup_activity, rollup_attr_values, rollup_counts, rollup_events
    TO census_analyst;
