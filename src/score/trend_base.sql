-- What the counts need from each pass of month ends (a few are evaluated at a time). Two
-- statements, separated by a line of `;;`; each pass's rows are kept and added up.
--
-- 1. `trend_people`: every person scored on a month end (listed or not). `i` is the month end's
-- position (0 = the oldest, evaluated only for the first shown month's new and lifted counts).
SELECT d.i, s.as_of, s.tier, s.tier IS NOT NULL AS listed, s.collision,
       s.township_code, s.gender, s.tier IN ({key_youth_tiers}) AS key_youth, s.left_behind,
       {category_flags}
FROM scored s JOIN model_asof d ON d.as_of = s.as_of
;;
-- 2. `trend_bits`: per listed person, the month ends of this pass on which they were listed, as
-- bits (bit i: month end i); a person appears once per pass.
SELECT s.person_key, bit_or(CAST(1 AS BIGINT) << d.i) AS listed_in
FROM scored s JOIN model_asof d ON d.as_of = s.as_of
WHERE s.tier IS NOT NULL
GROUP BY s.person_key
