-- Analyst views the dashboard (census dashboard) reads besides those of 0007. Each is an aggregate:
-- no install_id leaves a view, though cohort_weeks counts from install_days (views run with their
-- owner's rights, so census_analyst reads the counts and never the per-install rows).

-- Per count key and day, the log2 histogram itself (count_distributions gives only its
-- percentiles): the dashboard merges small buckets before it publishes any of them.
CREATE VIEW count_histograms AS
    SELECT day, product, count_key, installs, sum, min, max, histogram
      FROM rollup_counts
     WHERE installs > 0;

-- Weekly cohorts: of the installs first seen (as far as the per-install horizon remembers) in the
-- ISO week starting `cohort_week`, how many were active in week cohort_week + week_offset weeks.
-- Offset 0 is the cohort's size. Bounded by the per-install horizon (90 days: 12 weeks back).
CREATE VIEW cohort_weeks AS
    SELECT a.product,
           date_trunc('week', a.first_day)::date AS cohort_week,
           (date_trunc('week', d.day)::date - date_trunc('week', a.first_day)::date) / 7
               AS week_offset,
           count(DISTINCT d.install_id) AS installs
      FROM install_activity a
      JOIN install_days d ON d.product = a.product AND d.install_id = a.install_id
     WHERE d.day >= a.first_day
     GROUP BY 1, 2, 3;

-- "Data as of": the latest day with activity per product, and when the aggregator last committed
-- a batch (consumer_offsets is written in the same transaction as the rollups).
CREATE VIEW data_freshness AS
    SELECT a.product, max(a.day) AS latest_day,
           (SELECT max(updated_at) FROM consumer_offsets) AS aggregated_at
      FROM rollup_activity a
     WHERE a.dau > 0 AND a.day <= (now() AT TIME ZONE 'UTC')::date
     GROUP BY a.product;

GRANT SELECT ON count_histograms, cohort_weeks, data_freshness TO census_analyst;
