-- Each scored person's birth date, gender and township on each as-of date: those of their most
-- recent record on or before it (records of one day ordered by table and record id); and their
-- age in whole years (a 29 February birthday falls on 1 March in other years).
WITH people AS (SELECT DISTINCT person_key FROM active),
base AS (
  SELECT s.person_key, CAST(s.event_on AS INT) AS ev, s.birth_on, s.gender, s.township_code,
         s.table_name, s.record_id
  FROM signals s JOIN people p ON s.person_key = p.person_key
  WHERE NOT s.is_also AND s.event_on IS NOT NULL
),
ordered AS (
  SELECT *, lead(ev) OVER (PARTITION BY person_key ORDER BY ev, table_name, record_id) AS nx
  FROM base
)
SELECT d.as_of, o.person_key, o.birth_on, o.gender, o.township_code,
  CAST(date_part('year', d.as_of) - date_part('year', o.birth_on) AS INT)
    - CASE WHEN date_part('month', d.as_of) * 100 + date_part('day', d.as_of)
              < date_part('month', o.birth_on) * 100 + date_part('day', o.birth_on)
           THEN 1 ELSE 0 END AS age
FROM ordered o JOIN model_asof d ON o.ev <= d.a AND (o.nx IS NULL OR o.nx > d.a)
