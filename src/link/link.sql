-- Step 1 of 2: link this run's valid records (and earlier rows still waiting for their person,
-- or for their date) to a person. Inputs: staged (this run's canonical records), persons,
-- pending, signals; {as_of} is the run's as-of date.
-- One output row per candidate record: its person_key and link_method, and either its
-- record_hash (linked) or its link_reason (unlinkable / ambiguous_link).
WITH
incoming AS (
  SELECT {cols}, 0 AS from_pending
  FROM staged
  WHERE reason IS NULL
),
pending_latest AS (
  SELECT p.*, row_number() OVER (
    PARTITION BY table_name, record_id ORDER BY run_id DESC, file_order DESC, line DESC) AS newest
  FROM pending p
),
-- waiting for its person: until a version of the record reaches the lake
waiting_for_person AS (
  SELECT p.* FROM pending_latest p
  WHERE newest = 1 AND p.reason <> 'future_date'
    AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.table_name = p.table_name AND s.record_id = p.record_id)
),
-- dated after an earlier run's as-of date: retried once this run's date reaches it, unless a
-- later version of the record (a later run, or later in the same run's files) reached the lake
dated_by_now AS (
  SELECT p.* FROM pending_latest p
  WHERE newest = 1 AND p.reason = 'future_date' AND p.future_on <= DATE '{as_of}'
    AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.table_name = p.table_name AND s.record_id = p.record_id
                    AND (s.run_id > p.run_id OR (s.run_id = p.run_id AND (s.file > p.file OR (s.file = p.file AND s.line > p.line)))))
),
open_pending AS (
  SELECT {pending_cols}, 1 AS from_pending
  FROM (SELECT * FROM waiting_for_person UNION ALL SELECT * FROM dated_by_now) p
),
candidates AS (
  SELECT * FROM incoming
  UNION ALL
  SELECT * FROM open_pending
),
unkeyed AS (
  SELECT * FROM candidates WHERE person_key IS NULL
),
name_index AS (
  SELECT name_hash, birth_date, gender, person_key FROM persons
  WHERE name_hash IN (SELECT name_hash FROM unkeyed)
  UNION
  SELECT name_hash, birth_date, gender, person_key FROM candidates
  WHERE person_key IS NOT NULL AND link_method <> 'name_hash'
    AND name_hash IN (SELECT name_hash FROM unkeyed)
),
name_matches AS (
  SELECT name_hash, birth_date, gender,
         min(person_key) AS matched_key, count(DISTINCT person_key) AS matches
  FROM name_index
  GROUP BY name_hash, birth_date, gender
),
linked_by_name AS (
  SELECT {u_cols_but_identity}, u.name_hash, u.from_pending,
         CASE WHEN m.matches = 1 THEN m.matched_key END AS person_key,
         CASE WHEN m.matches = 1 THEN 'name_hash' END AS link_method,
         CASE WHEN m.matches IS NULL THEN 'unlinkable'
              WHEN m.matches > 1 THEN 'ambiguous_link' END AS link_reason
  FROM unkeyed u
  LEFT JOIN name_matches m
    ON u.name_hash = m.name_hash AND u.birth_date = m.birth_date AND u.gender = m.gender
),
linked AS (
  SELECT {cols_but_identity}, name_hash, from_pending, person_key, link_method,
         CAST(NULL AS VARCHAR) AS link_reason
  FROM candidates WHERE person_key IS NOT NULL
  UNION ALL
  SELECT {cols_but_identity}, name_hash, from_pending, person_key, link_method, link_reason
  FROM linked_by_name
),
final AS (
  SELECT linked.*,
         CASE WHEN link_reason IS NULL THEN md5(concat_ws('|', table_name, record_id, person_key, coalesce(birth_date, ''),
             coalesce(gender, ''), coalesce(township_code, ''), coalesce(school_code, ''),
             record_kind, coalesce(CAST(event_on AS VARCHAR), ''), coalesce(CAST(end_on AS VARCHAR), ''),
             coalesce(code, ''), coalesce(qualifier, ''), coalesce(category, ''),
             coalesce(CAST(severity AS VARCHAR), ''), coalesce(also_category, ''),
             coalesce(CAST(also_severity AS VARCHAR), ''))) END AS record_hash
  FROM linked
)
SELECT * FROM final
