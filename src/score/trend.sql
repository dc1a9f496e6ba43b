-- Monthly counts for the trend: one row per (month_end, measure, key). Reads `trend_listed`,
-- `trend_listed_categories` and `trend_left_behind` (trend_base.sql, materialised once) and
-- `month_pairs` (each month end with the one before it). The first date is evaluated only so that the first shown month has
-- new and lifted counts; the runner drops it. Placeholders in braces come from the model file.
WITH pairs AS (
  SELECT now.as_of, now.person_key, before.person_key AS before_key
  FROM month_pairs m
  JOIN trend_listed now ON now.as_of = m.as_of
  LEFT JOIN trend_listed before ON before.as_of = m.prev AND before.person_key = now.person_key
),
lifted AS (
  SELECT m.as_of, before.person_key, now.person_key AS now_key
  FROM month_pairs m
  JOIN trend_listed before ON before.as_of = m.prev
  LEFT JOIN trend_listed now ON now.as_of = m.as_of AND now.person_key = before.person_key
)
SELECT as_of AS month_end, 'listed' AS measure, 'all' AS key, count(*) AS people FROM trend_listed GROUP BY as_of
UNION ALL
SELECT as_of, 'tier', tier, count(*) FROM trend_listed GROUP BY as_of, tier
UNION ALL
SELECT as_of, 'key_youth', 'all', count(*) FROM trend_listed WHERE key_youth GROUP BY as_of
UNION ALL
SELECT as_of, 'collision', 'all', count(*) FROM trend_listed WHERE collision GROUP BY as_of
UNION ALL
SELECT as_of, 'category', category, count(*) FROM trend_listed_categories GROUP BY as_of, category
UNION ALL
SELECT x.as_of, 'pair', x.category || '+' || y.category, count(*)
FROM trend_listed_categories x
JOIN trend_listed_categories y ON y.as_of = x.as_of AND y.person_key = x.person_key AND x.category < y.category
GROUP BY x.as_of, x.category, y.category
UNION ALL
SELECT as_of, 'township', township_code, count(*) FROM trend_listed GROUP BY as_of, township_code
UNION ALL
SELECT as_of, 'township_key_youth', township_code, count(*) FROM trend_listed WHERE key_youth GROUP BY as_of, township_code
UNION ALL
SELECT as_of, 'gender', gender, count(*) FROM trend_listed GROUP BY as_of, gender
UNION ALL
SELECT as_of, 'gender_key_youth', gender, count(*) FROM trend_listed WHERE key_youth GROUP BY as_of, gender
UNION ALL
SELECT l.as_of, 'left_behind', 'yes', count(*)
FROM trend_listed l JOIN trend_left_behind b ON b.as_of = l.as_of AND b.person_key = l.person_key
GROUP BY l.as_of
UNION ALL
SELECT l.as_of, 'left_behind_key_youth', 'yes', count(*)
FROM trend_listed l JOIN trend_left_behind b ON b.as_of = l.as_of AND b.person_key = l.person_key
WHERE l.key_youth
GROUP BY l.as_of
UNION ALL
SELECT as_of, 'population_left_behind', 'yes', count(*) FROM trend_left_behind GROUP BY as_of
UNION ALL
SELECT as_of, 'new', 'all', count(*) FROM pairs WHERE before_key IS NULL GROUP BY as_of
UNION ALL
SELECT as_of, 'lifted', 'all', count(*) FROM lifted WHERE now_key IS NULL GROUP BY as_of
