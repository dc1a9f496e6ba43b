-- Two statements, separated by a line of `;;`. The placeholders in braces are filled in from
-- models/collision.toml.
--
-- 1. `signal_spans` (once per run, whatever the dates): every signal a rule may make active, with
-- the day numbers on which it is: from its own date `ev` to `hi` (2147483647: open-ended; NULL:
-- no rule governs it, never active), and whether its days_ago is 0 (a period covering the date).
WITH sig AS (
  SELECT person_key, link_method, source, table_name, record_kind, record_id, category, code,
         qualifier, severity, event_on, end_on, is_also,
         CAST(event_on AS BIGINT) AS ev, CAST(end_on AS BIGINT) AS en
  FROM signals
  WHERE person_key IS NOT NULL AND event_on IS NOT NULL
),
state_rows AS (
  SELECT person_key, table_name, record_id, ev, category FROM sig
  WHERE NOT is_also AND table_name IN ({state_tables})
),
-- A state table's record counts while it is the person's latest one: from its own date until
-- the next record's (nx). Records of the same day are ordered by record id. (A self-join: a
-- window partitioned by person is slow over a million small partitions.)
state_next AS (
  SELECT c.person_key, c.table_name, c.record_id, min(s.ev) AS nx
  FROM state_rows c
  JOIN state_rows s ON s.person_key = c.person_key AND s.table_name = c.table_name
   AND (s.ev > c.ev OR (s.ev = c.ev AND s.record_id > c.record_id))
  WHERE c.category IS NOT NULL
  GROUP BY c.person_key, c.table_name, c.record_id
),
cand AS (
  SELECT *, CAST(NULL AS BIGINT) AS nx FROM sig
  WHERE category IS NOT NULL AND table_name NOT IN ({state_tables})
  UNION ALL
  SELECT g.*, n.nx FROM sig g
  LEFT JOIN state_next n ON n.person_key = g.person_key AND n.table_name = g.table_name AND n.record_id = g.record_id
  WHERE NOT g.is_also AND g.table_name IN ({state_tables}) AND g.category IS NOT NULL
)
SELECT c.person_key, c.link_method, c.source, c.table_name, c.record_kind, c.record_id, c.category,
       c.code, c.qualifier, c.severity, c.event_on, c.end_on, c.ev,
       {hi_case} AS hi,
       {ago_zero_case} AS ago_zero
FROM cand c
;;
-- 2. `active`: every signal active on each as-of date of `model_asof` (as_of DATE, a = its day
-- number). signal_spans is materialised, so this join compares integers only.
SELECT d.as_of, d.a, c.person_key, c.link_method, c.source, c.table_name, c.record_kind,
       c.record_id, c.category, c.code, c.qualifier, c.severity, c.event_on, c.end_on,
       CASE WHEN c.ago_zero THEN 0 ELSE d.a - c.ev END AS days_ago
FROM signal_spans c JOIN model_asof d ON c.ev <= d.a AND d.a <= c.hi
