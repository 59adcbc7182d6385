-- One row per (day, product, install) with that day's last known state. Exact distinct counts
-- come from here. Holds install_id: purged after the per-install horizon (90 days by default).
CREATE TABLE install_days (
    day         date        NOT NULL,
    product     text        NOT NULL,
    install_id  uuid        NOT NULL,
    version     text        NOT NULL,
    platform    text        NOT NULL,
    os          text        NOT NULL,
    arch        text        NOT NULL,
    attrs       jsonb       NOT NULL DEFAULT '{}',
    counts      jsonb       NOT NULL DEFAULT '{}',
    pings       integer     NOT NULL CHECK (pings > 0),
    first_ping  timestamptz NOT NULL,
    last_ping   timestamptz NOT NULL,
    PRIMARY KEY (day, product, install_id)
) PARTITION BY RANGE (day);

-- Ping ids already counted, by the day they were received: a retried ping is counted once.
CREATE TABLE seen_pings (
    day      date NOT NULL,
    ping_id  uuid NOT NULL,
    PRIMARY KEY (day, ping_id)
) PARTITION BY RANGE (day);

-- Per install: the days it was seen, as a bit mask (bit i = seen on last_day - i), for exact
-- DAU/WAU/MAU in the manner of Mozilla's clients_last_seen. Not partitioned: the retention worker
-- deletes rows whose last_day is past the per-install horizon.
CREATE TABLE install_activity (
    product     text    NOT NULL,
    install_id  uuid    NOT NULL,
    first_day   date    NOT NULL,
    last_day    date    NOT NULL,
    days_seen   bigint  NOT NULL,
    PRIMARY KEY (product, install_id)
);
CREATE INDEX install_activity_last_day ON install_activity (last_day);

INSERT INTO census_partitioned_tables VALUES ('install_days', 'install'), ('seen_pings', 'dedup');
