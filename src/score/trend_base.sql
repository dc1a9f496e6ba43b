-- Every person scored on a month end (listed or not), with what the counts need: computed once
-- and kept as `trend_people`, because every count of trend.sql reads it. `i` is the month end's
-- position (0 = the oldest, evaluated only for the first shown month's new and lifted counts).
SELECT d.i, s.as_of, s.person_key, s.tier, s.tier IS NOT NULL AS listed, s.collision,
       s.township_code, s.gender, s.tier IN ({key_youth_tiers}) AS key_youth, s.left_behind,
       {category_flags}
FROM scored s JOIN model_asof d ON d.as_of = s.as_of
