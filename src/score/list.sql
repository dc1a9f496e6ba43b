-- The risk list of one as-of date: the listed people of `scored`, with their reasons in
-- Chinese, the records behind them, how they were linked, their school, and what changed since
-- the previous scored run (`scores` history, the latest as-of date before this one). People a
-- reviewer ruled out (排除) stay off the list until a signal dated after that decision arrives.
WITH excluded_on AS (
  -- a reviewer's latest 排除 of each person, on or before the as-of date
  SELECT person_key, max(decided_on) AS decided_on FROM decisions
  WHERE decision = '排除' AND decided_on <= {as_of} GROUP BY person_key
),
renewed AS (
  -- ... unless a signal dated after that decision is active now
  SELECT DISTINCT a.person_key FROM active a JOIN excluded_on x ON x.person_key = a.person_key
  WHERE a.event_on > x.decided_on
),
listed AS (
  SELECT * FROM scored
  WHERE tier IS NOT NULL
    AND person_key NOT IN (SELECT person_key FROM excluded_on WHERE person_key NOT IN (SELECT person_key FROM renewed))
),
act AS (
  SELECT a.* FROM active a JOIN listed l ON a.person_key = l.person_key
),
by_source AS (
  SELECT person_key, category, source,
         count(DISTINCT table_name || '/' || record_id) AS n
  FROM act GROUP BY person_key, category, source
),
source_text AS (
  SELECT b.person_key, b.category,
         array_to_string(array_agg(concat(coalesce(s.label, b.source), '记录', CAST(b.n AS VARCHAR), '次') ORDER BY b.source), '、') AS counts
  FROM by_source b LEFT JOIN ref_sources s ON s.source = b.source
  GROUP BY b.person_key, b.category
),
by_category AS (
  SELECT a.person_key, a.category,
         max(a.event_on) AS latest,
         array_to_string(array_sort(array_distinct(array_agg(coalesce(cl.label, a.code)))), '/') AS labels,
         array_to_string(array_sort(array_distinct(array_agg(a.table_name || '/' || a.record_id))), ', ') AS records
  FROM act a LEFT JOIN ref_code_labels cl ON cl.table_name = a.table_name AND cl.code = a.code
  GROUP BY a.person_key, a.category
),
clauses AS (
  SELECT c.person_key, c.category, k.label AS category_label,
         concat(k.label, ':', t.counts, ',最近', CAST(c.latest AS VARCHAR), '(', c.labels, ')') AS reason,
         concat(c.category, ': ', c.records) AS evidence
  FROM by_category c
  JOIN source_text t ON t.person_key = c.person_key AND t.category = c.category
  JOIN ref_categories k ON k.category = c.category
),
per_person AS (
  SELECT person_key,
         array_to_string(array_agg(category ORDER BY category), ',') AS categories,
         array_to_string(array_agg(category_label ORDER BY category), ',') AS category_labels,
         array_to_string(array_agg(reason ORDER BY category), '；') AS reasons,
         array_to_string(array_agg(evidence ORDER BY category), '; ') AS evidence
  FROM clauses GROUP BY person_key
),
departments AS (
  SELECT a.person_key,
         array_to_string(array_sort(array_distinct(array_agg(coalesce(s.label, a.source)))), ',') AS departments
  FROM act a LEFT JOIN ref_sources s ON s.source = a.source
  GROUP BY a.person_key
),
units AS (
  SELECT u.person_key, array_to_string(array_agg(u.unit ORDER BY u.unit_order, u.unit), ',') AS units
  FROM (SELECT DISTINCT a.person_key, cu.unit, cu.unit_order
        FROM act a JOIN ref_category_units cu ON cu.category = a.category) u
  GROUP BY u.person_key
),
links AS (
  SELECT k.person_key, array_to_string(array_agg(k.label ORDER BY k.link_order), ',') AS link_methods
  FROM (SELECT DISTINCT a.person_key, coalesce(m.label, a.link_method) AS label, coalesce(m.link_order, 9) AS link_order
        FROM act a LEFT JOIN ref_link_methods m ON m.link_method = a.link_method) k
  GROUP BY k.person_key
),
schools AS (
  SELECT person_key, school_code FROM (
    SELECT s.person_key, s.school_code,
           row_number() OVER (PARTITION BY s.person_key ORDER BY s.event_on DESC, s.table_name DESC, s.record_id DESC) AS rn
    FROM signals s JOIN listed l ON s.person_key = l.person_key
    WHERE s.school_code IS NOT NULL AND s.event_on <= {as_of} AND NOT s.is_also
  ) WHERE rn = 1
),
previous AS (
  SELECT * FROM scores WHERE as_of = (SELECT max(as_of) FROM scores WHERE as_of < {as_of})
),
ranked AS (
  SELECT l.*, {tier_rank_now} AS tier_rank, {tier_rank_before} AS tier_rank_before,
         p.person_key IS NOT NULL AS was_listed, p.first_listed_on AS first_before,
         p.tier AS tier_before, p.tier_since AS tier_since_before
  FROM listed l LEFT JOIN previous p ON p.person_key = l.person_key
)
SELECT
  CAST(row_number() OVER (ORDER BY r.tier_rank, r.score DESC, r.person_key) AS BIGINT) AS rank,
  r.person_key,
  r.tier,
  tl.label AS tier_label,
  r.score,
  r.intervention,
  coalesce(il.label, '无') AS intervention_label,
  pp.categories,
  pp.category_labels,
  CAST(r.n_categories AS BIGINT) AS n_categories,
  dp.departments,
  r.collision,
  un.units,
  CAST(r.age AS BIGINT) AS age,
  r.gender,
  gl.label AS gender_label,
  r.township_code,
  tw.name AS township_name,
  sc.school_code,
  pp.reasons,
  pp.evidence,
  lk.link_methods,
  CASE WHEN NOT r.was_listed THEN 'new'
       WHEN r.tier_rank < r.tier_rank_before THEN 'up'
       WHEN r.tier_rank > r.tier_rank_before THEN 'down'
       ELSE 'same' END AS change,
  CASE WHEN NOT r.was_listed THEN '新增'
       WHEN r.tier_rank < r.tier_rank_before THEN '升级'
       WHEN r.tier_rank > r.tier_rank_before THEN '降级'
       ELSE '持续' END AS change_label,
  CASE WHEN r.was_listed THEN r.first_before ELSE {as_of} END AS first_listed_on,
  CAST(CAST({as_of} AS INT) - CAST(CASE WHEN r.was_listed THEN r.first_before ELSE {as_of} END AS INT) AS BIGINT) AS days_listed,
  CASE WHEN r.was_listed AND r.tier_before = r.tier THEN r.tier_since_before ELSE {as_of} END AS tier_since,
  r.tier_before,
  r.birth_on,
  r.as_of,
  {model_version} AS model_version
FROM ranked r
JOIN per_person pp ON pp.person_key = r.person_key
LEFT JOIN departments dp ON dp.person_key = r.person_key
LEFT JOIN units un ON un.person_key = r.person_key
LEFT JOIN links lk ON lk.person_key = r.person_key
LEFT JOIN schools sc ON sc.person_key = r.person_key
LEFT JOIN ref_tiers tl ON tl.tier = r.tier
LEFT JOIN ref_interventions il ON il.intervention = r.intervention
LEFT JOIN ref_gender gl ON gl.code = r.gender
LEFT JOIN ref_townships tw ON tw.township_code = r.township_code
ORDER BY rank
