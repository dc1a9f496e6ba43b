-- The people listed on one as-of date: the scored people with a tier, but not those a reviewer
-- ruled out (排除) unless a signal dated after that decision is active. `tier_rule`: the number
-- of the model's first tier rule that holds (the one that made the tier; filled in from
-- models/collision.toml).
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
  SELECT *, {tier_rule_case} AS tier_rule FROM scored
  WHERE tier IS NOT NULL
    AND person_key NOT IN (SELECT person_key FROM excluded_on WHERE person_key NOT IN (SELECT person_key FROM renewed))
)
SELECT * FROM listed
