-- Every signal active on each as-of date of `model_asof` (as_of DATE, a = its day number).
-- The placeholders in braces are filled in from models/collision.toml.
WITH sig AS (
  SELECT person_key, link_method, source, table_name, record_kind, record_id, category, code,
         qualifier, severity, event_on, end_on, is_also,
         CAST(event_on AS INT) AS ev, CAST(end_on AS INT) AS en
  FROM signals
  WHERE person_key IS NOT NULL AND event_on IS NOT NULL
),
-- A state table's record counts while it is the person's latest one: from its own date until
-- the next record's (nx). Records of the same day are ordered by record id.
states AS (
  SELECT *, lead(ev) OVER (PARTITION BY person_key, table_name ORDER BY ev, record_id) AS nx
  FROM sig
  WHERE NOT is_also AND table_name IN ({state_tables})
),
cand AS (
  SELECT *, CAST(NULL AS INT) AS nx FROM sig
  WHERE category IS NOT NULL AND table_name NOT IN ({state_tables})
  UNION ALL
  SELECT * FROM states WHERE category IS NOT NULL
)
SELECT d.as_of, d.a, c.person_key, c.link_method, c.source, c.table_name, c.record_kind,
       c.record_id, c.category, c.code, c.qualifier, c.severity, c.event_on, c.end_on,
       {days_ago_case} AS days_ago
FROM cand c JOIN model_asof d ON c.ev <= d.a
WHERE {active_case}
