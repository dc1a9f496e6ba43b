-- The listed people of every month end, their active categories, and who is 留守: each computed
-- once and kept (trend_listed, trend_listed_categories, trend_left_behind), because every count
-- of trend.sql reads them. Three statements, separated by lines of `;;`.
SELECT as_of, person_key, tier, collision, township_code, gender,
       tier IN ({key_youth_tiers}) AS key_youth
FROM scored WHERE tier IS NOT NULL
;;
SELECT DISTINCT a.as_of, a.person_key, a.category
FROM active a JOIN trend_listed l ON l.as_of = a.as_of AND l.person_key = a.person_key
;;
SELECT DISTINCT a.as_of, a.person_key
FROM active a JOIN person_asof p ON p.as_of = a.as_of AND p.person_key = a.person_key
WHERE p.age < {max_age} AND ({left_behind})
