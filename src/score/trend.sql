-- Monthly counts for the trend: one row per (month_end, measure, key). Three statements,
-- separated by lines of `;;`, each kept as a table (a CTE read by several branches would be
-- computed once per branch). Reads `trend_people` and `trend_bits` (trend_base.sql). Placeholders in braces are
-- filled in from the model file and the month ends; the runner drops the oldest month end and
-- counts of 0.
--
-- 1. `trend_monthly`: per month end, the listed people in each category and pair of categories.
SELECT as_of, {category_sums}
FROM trend_people WHERE listed GROUP BY as_of
;;
-- 2. `trend_moves`: per person, the month ends on which they were listed (their bits of every
-- pass, `trend_bits`); then per month end, how many came onto the list (listed then, not at the
-- month end before) and how many left it.
SELECT {move_sums}
FROM (SELECT bit_or(listed_in) AS listed_in FROM trend_bits GROUP BY person_key)
;;
-- 3. The counts.
WITH listed AS (SELECT * FROM trend_people WHERE listed)
SELECT as_of AS month_end, 'listed' AS measure, 'all' AS key, count(*) AS people FROM listed GROUP BY as_of
UNION ALL
SELECT as_of, 'tier', tier, count(*) FROM listed GROUP BY as_of, tier
UNION ALL
SELECT as_of, 'key_youth', 'all', count(*) FROM listed WHERE key_youth GROUP BY as_of
UNION ALL
SELECT as_of, 'collision', 'all', count(*) FROM listed WHERE collision GROUP BY as_of
UNION ALL
SELECT as_of, 'township', township_code, count(*) FROM listed GROUP BY as_of, township_code
UNION ALL
SELECT as_of, 'township_key_youth', township_code, count(*) FROM listed WHERE key_youth GROUP BY as_of, township_code
UNION ALL
SELECT as_of, 'gender', gender, count(*) FROM listed GROUP BY as_of, gender
UNION ALL
SELECT as_of, 'gender_key_youth', gender, count(*) FROM listed WHERE key_youth GROUP BY as_of, gender
UNION ALL
SELECT as_of, 'left_behind', 'yes', count(*) FROM listed WHERE left_behind GROUP BY as_of
UNION ALL
SELECT as_of, 'left_behind_key_youth', 'yes', count(*) FROM listed WHERE left_behind AND key_youth GROUP BY as_of
UNION ALL
SELECT as_of, 'population_left_behind', 'yes', count(*) FROM trend_people WHERE left_behind GROUP BY as_of
UNION ALL
{category_rows}
UNION ALL
{move_rows}
