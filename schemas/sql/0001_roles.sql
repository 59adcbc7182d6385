-- The four service roles of DESIGN §5. Roles are cluster-wide, so creating one that exists (from
-- another database of the same cluster) is not an error. Passwords are the operator's business.
DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['census_ingest', 'census_aggregator', 'census_retention', 'census_analyst'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I LOGIN', role_name);
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END LOOP;
END
$$;
