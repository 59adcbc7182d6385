-- feature_adoption.share as numeric, so analysts can round(share, 3) it: round(double precision,
-- integer) does not exist in PostgreSQL, and the documented examples failed on it.
DROP VIEW feature_adoption;
CREATE VIEW feature_adoption AS
    SELECT v.day, v.product, v.attr, v.value, v.installs,
           v.installs::numeric / nullif(a.dau, 0) AS share
      FROM rollup_attr_values v
      LEFT JOIN rollup_activity a ON a.day = v.day AND a.product = v.product
     WHERE v.installs > 0;
GRANT SELECT ON feature_adoption TO census_analyst;
