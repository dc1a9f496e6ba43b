-- The changes of one as-of date against the previous scored one: the listed people who are new
-- or moved up or down a tier (`listed_full`, list.sql), then the people of the previous list who
-- are no longer listed (解除, from the `scores` history). Ordered new, up, down, lifted, then by
-- person key.
WITH moved AS (
  SELECT r.person_key, r.change, r.change_label, r.tier_before, tb.label AS tier_before_label,
         r.tier AS tier_now, r.tier_label AS tier_now_label, r.first_listed_on, r.days_listed,
         {previous_as_of} AS previous_as_of, {as_of} AS as_of,
         CASE r.change WHEN 'new' THEN 1 WHEN 'up' THEN 2 ELSE 3 END AS k
  FROM listed_full r LEFT JOIN ref_tiers tb ON tb.tier = r.tier_before
  WHERE r.change IN ('new', 'up', 'down')
),
lifted AS (
  SELECT p.person_key, 'lifted' AS change, '解除' AS change_label, p.tier AS tier_before,
         tb.label AS tier_before_label, CAST(NULL AS VARCHAR) AS tier_now, CAST(NULL AS VARCHAR) AS tier_now_label,
         p.first_listed_on, CAST(CAST({as_of} AS INT) - CAST(p.first_listed_on AS INT) AS BIGINT) AS days_listed,
         {previous_as_of} AS previous_as_of, {as_of} AS as_of, 4 AS k
  FROM scores p LEFT JOIN ref_tiers tb ON tb.tier = p.tier
  WHERE p.as_of = {previous_as_of} AND p.person_key NOT IN (SELECT person_key FROM listed_full)
),
final AS (
  SELECT * FROM moved UNION ALL SELECT * FROM lifted
)
SELECT person_key, change, change_label, tier_before, tier_before_label, tier_now, tier_now_label,
       first_listed_on, days_listed, previous_as_of, as_of
FROM final ORDER BY k, person_key
