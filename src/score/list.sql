-- The risk list of one as-of date: the `listed` people (listed.sql) with their reasons, records,
-- departments, units and links (`per_person`, assembled from their active signals), their
-- school (and its name, from the reference folder's schools.csv when there is one), the tier
-- rule that made their tier and the tier's review cadence, and what changed since the previous
-- scored run (`scores` history, the latest as-of date before this one).
WITH schools AS (
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
  CAST(tr.rule_in_tier AS BIGINT) AS tier_rule,
  tl.label || '：' || replace(tr.label, '{{categories}}', replace(pp.category_labels, ',', '、')) AS tier_rule_label,
  tl.cadence,
  pp.categories,
  pp.category_labels,
  CAST(r.n_categories AS BIGINT) AS n_categories,
  pp.departments,
  r.collision,
  pp.units,
  CAST(r.age AS BIGINT) AS age,
  r.gender,
  gl.label AS gender_label,
  r.township_code,
  tw.name AS township_name,
  sc.school_code,
  sn.name AS school_name,
  pp.reasons,
  pp.evidence,
  pp.link_methods,
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
LEFT JOIN schools sc ON sc.person_key = r.person_key
LEFT JOIN ref_tiers tl ON tl.tier = r.tier
LEFT JOIN ref_tier_rules tr ON tr.tier_rule = r.tier_rule
LEFT JOIN ref_schools sn ON sn.school_code = sc.school_code
LEFT JOIN ref_interventions il ON il.intervention = r.intervention
LEFT JOIN ref_gender gl ON gl.code = r.gender
LEFT JOIN ref_townships tw ON tw.township_code = r.township_code
ORDER BY rank
