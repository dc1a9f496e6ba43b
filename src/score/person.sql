-- Two statements, separated by a line of `;;`.
--
-- 1. `person_spans` (once per run): every record of the people a rule may flag, with the day
-- from which it is their most recent one (its own date, ev) until the next record's (nx).
-- Records of one day are ordered by table and record id.
WITH people AS (SELECT DISTINCT person_key FROM signal_spans WHERE hi IS NOT NULL),
base AS (
  SELECT s.person_key, CAST(s.event_on AS BIGINT) AS ev, s.birth_on, s.gender, s.township_code,
         s.table_name, s.record_id
  FROM signals s JOIN people p ON s.person_key = p.person_key
  WHERE NOT s.is_also AND s.event_on IS NOT NULL
)
SELECT person_key, birth_on, gender, township_code, ev,
       lead(ev) OVER (PARTITION BY person_key ORDER BY ev, table_name, record_id) AS nx
FROM base
;;
-- 2. `person_asof`: each scored person's birth date, gender and township on each as-of date:
-- those of their most recent record on or before it; and their age in whole years (a 29
-- February birthday falls on 1 March in other years).
SELECT n.as_of, o.person_key, o.birth_on, o.gender, o.township_code,
  CAST(date_part('year', n.as_of) - date_part('year', o.birth_on) AS INT)
    - CASE WHEN date_part('month', n.as_of) * 100 + date_part('day', n.as_of)
              < date_part('month', o.birth_on) * 100 + date_part('day', o.birth_on)
           THEN 1 ELSE 0 END AS age
FROM (SELECT DISTINCT as_of, a, person_key FROM active) n
JOIN person_spans o ON o.person_key = n.person_key AND o.ev <= n.a AND (o.nx IS NULL OR o.nx > n.a)
