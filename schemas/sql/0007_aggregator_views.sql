-- Aggregator support and the stable analyst views (docs/analysts.md).

-- rollup_counts keeps min and max exact under "an install's last value of the day": with the
-- number of installs holding each extreme, the aggregator recomputes an extreme from install_days
-- only when the last install holding it changes its value.
ALTER TABLE rollup_counts
    ADD COLUMN min_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN max_installs bigint NOT NULL DEFAULT 0;

-- The q-quantile estimated from a log2 histogram (index 1 holds 0, index i > 1 holds
-- [2^(i-2), 2^(i-1))): linear inside the bucket that holds the rank, clamped to [lo, hi]. The true
-- value lies in the same bucket, so the estimate is within a factor of 2 of it.
CREATE FUNCTION census_histogram_quantile(histogram bigint[], q double precision, lo bigint, hi bigint)
    RETURNS double precision
    LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    total numeric;
    target numeric;
    seen numeric := 0;
    n bigint;
    low numeric;
    high numeric;
BEGIN
    SELECT coalesce(sum(x), 0) INTO total FROM unnest(histogram) AS x;
    IF total <= 0 THEN
        RETURN NULL;
    END IF;
    target := q::numeric * total;
    FOR i IN 1 .. coalesce(array_length(histogram, 1), 0) LOOP
        n := histogram[i];
        IF n > 0 AND seen + n >= target THEN
            IF i = 1 THEN
                low := 0;
                high := 1;
            ELSE
                low := 2::numeric ^ (i - 2);
                high := 2::numeric ^ (i - 1);
            END IF;
            RETURN least(greatest(low + (high - low) * ((target - seen) / n), lo), hi)::double precision;
        END IF;
        seen := seen + n;
    END LOOP;
    RETURN hi::double precision;
END
$$;

-- Active installs per day by product x version x platform x os x arch, each install under its
-- last state of the day, and all the pings it sent that day.
CREATE VIEW active_installs_daily AS
    SELECT day, product, version, platform, os, arch, installs, pings
      FROM rollup_active_installs
     WHERE installs > 0;

-- Exact daily, 7-day and 28-day active installs (windows end on `day`, UTC days). Rows for days
-- after today exist in the table (a sighting counts in the windows of the following days) and
-- are hidden here until their day has come.
CREATE VIEW dau_wau_mau AS
    SELECT day, product, dau, wau, mau
      FROM rollup_activity
     WHERE day <= (now() AT TIME ZONE 'UTC')::date
       AND (dau > 0 OR wau > 0 OR mau > 0);

-- Installs per declared attr value per day, and their share of the day's active installs.
CREATE VIEW feature_adoption AS
    SELECT v.day, v.product, v.attr, v.value, v.installs,
           v.installs::double precision / nullif(a.dau, 0) AS share
      FROM rollup_attr_values v
      LEFT JOIN rollup_activity a ON a.day = v.day AND a.product = v.product
     WHERE v.installs > 0;

-- Per count key and day: installs reporting it, sum, exact min and max of the installs' last
-- values, and percentiles estimated from the log2 histogram (within a factor of 2).
CREATE VIEW count_distributions AS
    SELECT day, product, count_key, installs, sum, min, max,
           census_histogram_quantile(histogram, 0.5, min, max) AS p50,
           census_histogram_quantile(histogram, 0.9, min, max) AS p90,
           census_histogram_quantile(histogram, 0.99, min, max) AS p99
      FROM rollup_counts
     WHERE installs > 0;

-- Pings per day, event and values of the product's declared dimension attrs.
CREATE VIEW event_outcomes AS
    SELECT day, product, event, dimensions, events
      FROM rollup_events
     WHERE events > 0;

-- Installs seen for the first time (as far as the per-install horizon remembers) per day.
CREATE VIEW new_installs_daily AS
    SELECT day, product, new_installs AS installs
      FROM rollup_activity
     WHERE new_installs > 0;

GRANT SELECT ON active_installs_daily, dau_wau_mau, feature_adoption, count_distributions,
    event_outcomes, new_installs_daily TO census_analyst;
