-- Anonymous day rollups, small enough for dashboards. No install_id anywhere below.

-- Active installs by product x version x platform x os x arch (an install counts under its last
-- state of the day), and the pings they sent.
CREATE TABLE rollup_active_installs (
    day       date   NOT NULL,
    product   text   NOT NULL,
    version   text   NOT NULL,
    platform  text   NOT NULL,
    os        text   NOT NULL,
    arch      text   NOT NULL,
    installs  bigint NOT NULL,
    pings     bigint NOT NULL,
    PRIMARY KEY (day, product, version, platform, os, arch)
) PARTITION BY RANGE (day);

-- Exact daily, 7-day and 28-day active installs, and installs seen for the first time.
CREATE TABLE rollup_activity (
    day           date   NOT NULL,
    product       text   NOT NULL,
    dau           bigint NOT NULL DEFAULT 0,
    wau           bigint NOT NULL DEFAULT 0,
    mau           bigint NOT NULL DEFAULT 0,
    new_installs  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, product)
) PARTITION BY RANGE (day);

-- Installs per declared attr value (feature adoption); booleans as 'true'/'false'.
CREATE TABLE rollup_attr_values (
    day       date   NOT NULL,
    product   text   NOT NULL,
    attr      text   NOT NULL,
    value     text   NOT NULL,
    installs  bigint NOT NULL,
    PRIMARY KEY (day, product, attr, value)
) PARTITION BY RANGE (day);

-- Per count key: installs reporting it, sum, min, max of each install's last value of the day, and
-- a log2 histogram (bucket 0 holds 0, bucket b holds [2^(b-1), 2^b)) for percentiles.
CREATE TABLE rollup_counts (
    day        date     NOT NULL,
    product    text     NOT NULL,
    count_key  text     NOT NULL,
    installs   bigint   NOT NULL,
    sum        numeric  NOT NULL,
    min        bigint   NOT NULL,
    max        bigint   NOT NULL,
    histogram  bigint[] NOT NULL,
    PRIMARY KEY (day, product, count_key)
) PARTITION BY RANGE (day);

-- Events per (event, values of the product's declared dimension attrs).
CREATE TABLE rollup_events (
    day         date   NOT NULL,
    product     text   NOT NULL,
    event       text   NOT NULL,
    dimensions  jsonb  NOT NULL,
    events      bigint NOT NULL,
    PRIMARY KEY (day, product, event, dimensions)
) PARTITION BY RANGE (day);

INSERT INTO census_partitioned_tables VALUES
    ('rollup_active_installs', 'rollup'),
    ('rollup_activity', 'rollup'),
    ('rollup_attr_values', 'rollup'),
    ('rollup_counts', 'rollup'),
    ('rollup_events', 'rollup');
