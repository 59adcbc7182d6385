-- Day partitions are found by their bounds in the catalog, never by their names: a partition an
-- operator created, one restored from a backup, or one spanning several days is seen, purged when
-- its whole range is past the horizon, and counts as present when partitions are created ahead.
-- And each table says how far ahead of today it is written, so retention creates its partitions
-- before a writer needs them (the aggregator then never creates one in its flush).

-- Days after today a writer may write into the table: a sighting on day d changes rollup_activity
-- up to d + 27 (the 28-day MAU window); every other table is written for the ping's own day.
ALTER TABLE census_partitioned_tables
    ADD COLUMN written_ahead_days integer NOT NULL DEFAULT 0
        CONSTRAINT census_partitioned_tables_written_ahead_days_check CHECK (written_ahead_days >= 0);
UPDATE census_partitioned_tables SET written_ahead_days = 27 WHERE table_name = 'rollup_activity';

-- One side of a range bound as pg_get_expr prints it under DateStyle ISO: a quoted ISO date,
-- MINVALUE (-infinity) or MAXVALUE (infinity); NULL for anything else (several columns, BC).
CREATE FUNCTION census_bound_day(side text) RETURNS date
    LANGUAGE sql STABLE STRICT
    AS $$
    SELECT CASE
             WHEN side = 'MINVALUE' THEN '-infinity'::date
             WHEN side = 'MAXVALUE' THEN 'infinity'::date
             WHEN side ~ '^''[0-9]{4}-[0-9]{2}-[0-9]{2}''$' THEN btrim(side, '''')::date
           END
$$;

-- Every partition of `parent` with its range read from the catalog: lower_day inclusive,
-- upper_day exclusive (-infinity/infinity for MINVALUE/MAXVALUE, NULL when the bound is not a
-- single-column date range), is_default for the DEFAULT partition. partition_name is the
-- partition's regclass text (quoted and schema-qualified where needed), oldest first.
CREATE FUNCTION census_partition_bounds(parent text)
    RETURNS TABLE (partition_name text, lower_day date, upper_day date, is_default boolean,
                   estimated_rows bigint)
    LANGUAGE sql STABLE SET search_path = public, pg_temp SET datestyle = 'ISO, YMD'
    AS $$
    SELECT c.oid::regclass::text,
           census_bound_day(m[1]),
           census_bound_day(m[2]),
           b.expr = 'DEFAULT',
           greatest(c.reltuples, 0)::bigint
      FROM pg_inherits i
      JOIN pg_class c ON c.oid = i.inhrelid
      -- relid 0: a bound holds constants only, so no relation needs opening (nor locking).
      CROSS JOIN LATERAL (SELECT pg_get_expr(c.relpartbound, 0) AS expr) b
      LEFT JOIN LATERAL regexp_match(b.expr, '^FOR VALUES FROM \((.*)\) TO \((.*)\)$') m ON true
     WHERE i.inhparent = to_regclass(quote_ident(parent))
     ORDER BY 2 NULLS LAST, 1
$$;

-- Creates a one-day partition (named <parent>_pYYYYMMDD) for each day of [from_day, to_day] that
-- no partition of `parent` covers yet, whatever that partition's name or width; returns how many
-- it created. It takes no lock when every day is covered: that is the steady state.
CREATE OR REPLACE FUNCTION census_ensure_day_partitions(parent text, from_day date, to_day date) RETURNS integer
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    covered datemultirange;
    d date;
    created integer := 0;
    part text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM census_partitioned_tables WHERE table_name = parent) THEN
        RAISE EXCEPTION 'census: % is not a registered day-partitioned table', parent;
    END IF;
    SELECT coalesce(range_agg(daterange(lower_day, upper_day)), '{}'::datemultirange)
      INTO covered
      FROM census_partition_bounds(parent)
     WHERE NOT is_default AND lower_day < upper_day;
    d := from_day;
    WHILE d <= to_day LOOP
        IF NOT covered @> d THEN
            part := census_day_partition_name(parent, d);
            BEGIN
                EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)',
                               part, parent, d, d + 1);
                created := created + 1;
            EXCEPTION WHEN duplicate_table THEN
                -- Another session created it between our look and our CREATE; a table of that
                -- name that does not hold the day is a real conflict.
                IF NOT EXISTS (SELECT 1 FROM census_partition_bounds(parent) b
                                WHERE NOT b.is_default AND b.lower_day <= d AND d < b.upper_day) THEN
                    RAISE;
                END IF;
            END;
        END IF;
        d := d + 1;
    END LOOP;
    RETURN created;
END
$$;

-- Drops the partition `part` (a partition_name of census_partition_bounds) of `parent` if its
-- whole range lies before `keep_from`; returns whether it dropped it. The bound is read again
-- here, so a caller can only ever drop a partition of a registered table entirely past the
-- horizon it names. Callers set lock_timeout; the retention role may call it.
CREATE FUNCTION census_drop_partition(parent text, part text, keep_from date) RETURNS boolean
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp
    AS $$
DECLARE
    target regclass;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM census_partitioned_tables WHERE table_name = parent) THEN
        RAISE EXCEPTION 'census: % is not a registered day-partitioned table', parent;
    END IF;
    SELECT b.partition_name::regclass INTO target
      FROM census_partition_bounds(parent) b
     WHERE b.partition_name = part AND NOT b.is_default AND b.upper_day <= keep_from;
    IF target IS NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('DROP TABLE %s', target);
    RETURN true;
END
$$;

-- The name-based look-ups they replace.
DROP FUNCTION census_day_partitions(text);
DROP FUNCTION census_drop_day_partition(text, date);

REVOKE ALL ON FUNCTION census_drop_partition(text, text, date) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION census_drop_partition(text, text, date) TO census_retention;
