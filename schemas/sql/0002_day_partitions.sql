-- Day partitions: every day-partitioned table is listed in census_partitioned_tables, with the
-- horizon class the retention worker applies to it ('install' rows carry an install_id and are
-- kept 90 days by default; 'rollup' rows are anonymous; 'dedup' rows only guard retries).
CREATE TABLE census_partitioned_tables (
    table_name    text PRIMARY KEY,
    horizon_class text NOT NULL CHECK (horizon_class IN ('install', 'rollup', 'dedup'))
);

-- Partition of `parent` for `day` is named <parent>_pYYYYMMDD.
CREATE FUNCTION census_day_partition_name(parent text, day date) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT parent || '_p' || to_char(day, 'YYYYMMDD') $$;

-- Creates the missing day partitions of `parent` for [from_day, to_day]; returns how many it
-- created. SECURITY DEFINER so the aggregator and retention roles can call it without owning the
-- tables; it accepts only registered parents.
CREATE FUNCTION census_ensure_day_partitions(parent text, from_day date, to_day date) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    d date;
    created integer := 0;
    part text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM census_partitioned_tables WHERE table_name = parent) THEN
        RAISE EXCEPTION 'census: % is not a registered day-partitioned table', parent;
    END IF;
    d := from_day;
    WHILE d <= to_day LOOP
        part := census_day_partition_name(parent, d);
        IF to_regclass(quote_ident(part)) IS NULL THEN
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               part, parent, d, d + 1);
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                NULL;  -- another session created it between our check and our CREATE
            END;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END
$$;

-- The day partitions of `parent` that exist, oldest first.
CREATE FUNCTION census_day_partitions(parent text) RETURNS TABLE (partition_name text, day date)
    LANGUAGE sql STABLE SET search_path = public, pg_temp
    AS $$
    SELECT c.relname::text, to_date(right(c.relname, 8), 'YYYYMMDD')
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      JOIN pg_class p ON p.oid = i.inhparent
     WHERE p.relname = parent AND c.relname ~ '_p[0-9]{8}$'
     ORDER BY 2
$$;

-- Detaches and drops the day partition of `parent` for `day`, if it exists; returns whether it
-- dropped one. Callers set lock_timeout; the retention role may call it.
CREATE FUNCTION census_drop_day_partition(parent text, day date) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    part text := census_day_partition_name(parent, day);
BEGIN
    IF NOT EXISTS (SELECT 1 FROM census_partitioned_tables WHERE table_name = parent) THEN
        RAISE EXCEPTION 'census: % is not a registered day-partitioned table', parent;
    END IF;
    IF to_regclass(quote_ident(part)) IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %I', part);
    RETURN true;
END
$$;

REVOKE ALL ON FUNCTION census_ensure_day_partitions(text, date, date) FROM PUBLIC;
REVOKE ALL ON FUNCTION census_drop_day_partition(text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION census_ensure_day_partitions(text, date, date) TO census_aggregator, census_retention;
GRANT EXECUTE ON FUNCTION census_drop_day_partition(text, date) TO census_retention;
GRANT SELECT ON census_partitioned_tables TO census_aggregator, census_retention, census_analyst;
