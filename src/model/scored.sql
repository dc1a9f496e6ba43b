-- One row per person and as-of date: the facts over their active signals, then tier,
-- intervention and score. Reads `active` (active.sql) and `person_asof` (their birth date,
-- gender and township on each date). Filled in from models/collision.toml.
WITH facts AS (
  SELECT as_of, a, person_key,
    count(DISTINCT category) AS n_categories,
    count(DISTINCT source) AS n_departments,
    {category_flags},
    {category_scores}{facts}
  FROM active
  GROUP BY as_of, a, person_key
),
judged AS (
  SELECT f.*, f.n_departments >= {min_departments} AS collision, p.age, p.birth_on, p.gender, p.township_code
  FROM facts f
  JOIN person_asof p ON p.as_of = f.as_of AND p.person_key = f.person_key
  WHERE p.age < {max_age}
)
SELECT *,
  {tier_case} AS tier,
  {intervention_case} AS intervention,
  round(
        {score_expr}, 3) AS score
FROM judged
