-- One row per person and as-of date: the facts over their active signals, then tier,
-- intervention and score. Reads `active` (active.sql) and `person_asof` (their birth date,
-- gender and township on each date). Filled in from models/collision.toml. `left_behind`: an
-- active signal is 留守 (the model's [trend] left_behind), for the trend's fairness counts.
WITH facts AS (
  SELECT as_of, a, person_key,
    {category_flags},
    {source_flags},
    {category_scores},
    bool_or({left_behind}) AS left_behind{facts}
  FROM active
  GROUP BY as_of, a, person_key
),
counted AS (
  -- counts from flags: count(DISTINCT …) per person is slow and memory-hungry at scale
  SELECT *, {n_categories} AS n_categories, {n_departments} AS n_departments FROM facts
),
judged AS (
  SELECT f.*, f.n_departments >= {min_departments} AS collision, p.age, p.birth_on, p.gender, p.township_code
  FROM counted f
  JOIN person_asof p ON p.as_of = f.as_of AND p.person_key = f.person_key
  WHERE p.age < {max_age}
)
SELECT *,
  {tier_case} AS tier,
  {intervention_case} AS intervention,
  round(
        {score_expr}, 3) AS score
FROM judged
