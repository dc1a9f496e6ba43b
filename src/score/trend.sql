-- Monthly counts for the trend: one row per (month_end, measure, key). Reads `scored`, `active`
-- and `person_asof` evaluated on every date of `model_asof`, and `month_pairs` (each month end
-- with the one before it). The first date is evaluated only so that the first shown month has
-- new and lifted counts; the runner drops it. Placeholders in braces come from the model file.
WITH listed AS (
  SELECT as_of, person_key, tier, collision, township_code, gender,
         tier IN ({key_youth_tiers}) AS key_youth
  FROM scored WHERE tier IS NOT NULL
),
listed_categories AS (
  SELECT DISTINCT a.as_of, a.person_key, a.category
  FROM active a JOIN listed l ON l.as_of = a.as_of AND l.person_key = a.person_key
),
left_behind AS (
  SELECT DISTINCT a.as_of, a.person_key
  FROM active a JOIN person_asof p ON p.as_of = a.as_of AND p.person_key = a.person_key
  WHERE p.age < {max_age} AND ({left_behind})
),
pairs AS (
  SELECT now.as_of, now.person_key, before.person_key AS before_key
  FROM month_pairs m
  JOIN listed now ON now.as_of = m.as_of
  LEFT JOIN listed before ON before.as_of = m.prev AND before.person_key = now.person_key
),
lifted AS (
  SELECT m.as_of, before.person_key, now.person_key AS now_key
  FROM month_pairs m
  JOIN listed before ON before.as_of = m.prev
  LEFT JOIN listed now ON now.as_of = m.as_of AND now.person_key = before.person_key
)
SELECT as_of AS month_end, 'listed' AS measure, 'all' AS key, count(*) AS people FROM listed GROUP BY as_of
UNION ALL
SELECT as_of, 'tier', tier, count(*) FROM listed GROUP BY as_of, tier
UNION ALL
SELECT as_of, 'key_youth', 'all', count(*) FROM listed WHERE key_youth GROUP BY as_of
UNION ALL
SELECT as_of, 'collision', 'all', count(*) FROM listed WHERE collision GROUP BY as_of
UNION ALL
SELECT as_of, 'category', category, count(*) FROM listed_categories GROUP BY as_of, category
UNION ALL
SELECT x.as_of, 'pair', x.category || '+' || y.category, count(*)
FROM listed_categories x
JOIN listed_categories y ON y.as_of = x.as_of AND y.person_key = x.person_key AND x.category < y.category
GROUP BY x.as_of, x.category, y.category
UNION ALL
SELECT as_of, 'township', township_code, count(*) FROM listed GROUP BY as_of, township_code
UNION ALL
SELECT as_of, 'township_key_youth', township_code, count(*) FROM listed WHERE key_youth GROUP BY as_of, township_code
UNION ALL
SELECT as_of, 'gender', gender, count(*) FROM listed GROUP BY as_of, gender
UNION ALL
SELECT as_of, 'gender_key_youth', gender, count(*) FROM listed WHERE key_youth GROUP BY as_of, gender
UNION ALL
SELECT l.as_of, 'left_behind', 'yes', count(*)
FROM listed l JOIN left_behind b ON b.as_of = l.as_of AND b.person_key = l.person_key
GROUP BY l.as_of
UNION ALL
SELECT l.as_of, 'left_behind_key_youth', 'yes', count(*)
FROM listed l JOIN left_behind b ON b.as_of = l.as_of AND b.person_key = l.person_key
WHERE l.key_youth
GROUP BY l.as_of
UNION ALL
SELECT as_of, 'population_left_behind', 'yes', count(*) FROM left_behind GROUP BY as_of
UNION ALL
SELECT as_of, 'new', 'all', count(*) FROM pairs WHERE before_key IS NULL GROUP BY as_of
UNION ALL
SELECT as_of, 'lifted', 'all', count(*) FROM lifted WHERE now_key IS NULL GROUP BY as_of
