-- The tasks of one as-of date: one per (listed person, responsible unit) — the units of the
-- person's active categories — plus every task of the previous scored date (the lake's `tasks`
-- history) that no reviewer's decision has closed. A task stays open, and lit once overdue
-- (亮灯), until a decision for that person and unit dated on or after its assignment closes it:
-- a tier change, a lapsed category or the person leaving the list adds a note, it does not
-- replace the task. A carried task keeps its assignment date and tier, and the earlier of its
-- due date and the current tier's; people who are 18 on the as-of date leave with the lists.
-- Inputs: listed_full (list.sql), active, ref_category_units, ref_tiers, decisions, tasks.
WITH derived AS (
  SELECT u.unit, r.person_key, r.rank, r.tier, r.tier_label, r.reasons, r.township_name, r.school_code,
         r.tier_since, r.birth_on,
         CAST(CAST(r.tier_since AS INT) + CAST(tl.due_days AS INT) AS DATE) AS due_on
  FROM listed_full r
  JOIN (SELECT DISTINCT a.person_key, cu.unit
        FROM active a JOIN ref_category_units cu ON cu.category = a.category) u ON u.person_key = r.person_key
  JOIN ref_tiers tl ON tl.tier = r.tier
),
carried AS (
  SELECT * FROM tasks
  WHERE as_of = {previous_as_of} AND status = 'open' AND birth_on > {adult_born_on}
),
units AS (
  SELECT unit, min(unit_order) AS unit_order FROM ref_category_units GROUP BY unit
),
decided AS (
  SELECT person_key, unit, max(decided_on) AS decided_on FROM decisions
  WHERE decided_on <= {as_of} GROUP BY person_key, unit
),
merged AS (
  SELECT coalesce(d.unit, c.unit) AS unit,
         coalesce(d.person_key, c.person_key) AS person_key,
         coalesce(d.rank, l.rank) AS rank,
         coalesce(d.tier, l.tier) AS tier,
         coalesce(d.tier_label, l.tier_label) AS tier_label,
         coalesce(d.reasons, l.reasons, c.reasons) AS reasons,
         coalesce(d.township_name, l.township_name, c.township_name) AS township_name,
         coalesce(d.school_code, l.school_code, c.school_code) AS school_code,
         coalesce(c.assigned_on, d.tier_since) AS assigned_on,
         coalesce(c.tier_assigned, d.tier) AS tier_assigned,
         coalesce(c.tier_assigned_label, d.tier_label) AS tier_assigned_label,
         CASE WHEN c.due_on IS NULL THEN d.due_on
              WHEN d.due_on IS NULL THEN c.due_on
              ELSE least(c.due_on, d.due_on) END AS due_on,
         coalesce(d.tier_since, l.tier_since) AS tier_since,
         coalesce(d.birth_on, c.birth_on) AS birth_on,
         l.person_key IS NOT NULL AS listed_now,
         CASE WHEN d.person_key IS NULL THEN coalesce(c.left_on, {as_of}) END AS left_on
  FROM derived d
  FULL OUTER JOIN carried c ON c.person_key = d.person_key AND c.unit = d.unit
  LEFT JOIN listed_full l ON d.person_key IS NULL AND l.person_key = c.person_key
),
final AS (
  SELECT m.*, coalesce(u.unit_order, 1000000) AS unit_order, x.decided_on,
         x.decided_on IS NOT NULL AND x.decided_on >= m.assigned_on AS closed
  FROM merged m
  LEFT JOIN units u ON u.unit = m.unit
  LEFT JOIN decided x ON x.person_key = m.person_key AND x.unit = m.unit
)
SELECT unit, person_key, rank, tier, tier_label, reasons, township_name, school_code,
       assigned_on, tier_assigned, tier_assigned_label, due_on,
       CASE WHEN closed THEN 'closed' ELSE 'open' END AS status,
       CASE WHEN closed THEN '已办结' ELSE '待处理' END AS status_label,
       CASE WHEN closed THEN CAST(0 AS BIGINT)
            ELSE CAST(greatest(0, CAST({as_of} AS INT) - CAST(due_on AS INT)) AS BIGINT) END AS days_overdue,
       CASE WHEN closed THEN decided_on END AS closed_on,
       CASE WHEN left_on IS NOT NULL AND NOT listed_now
              THEN '已于' || CAST(left_on AS VARCHAR) || '移出名单，仍待核查决定'
            WHEN left_on IS NOT NULL
              THEN '本单位负责的情形已于' || CAST(left_on AS VARCHAR) || '失效，仍待核查决定'
            WHEN tier <> tier_assigned
              THEN '派发时为' || tier_assigned_label || '色，自' || CAST(tier_since AS VARCHAR) || '起为' || tier_label || '色'
       END AS note,
       left_on, birth_on, unit_order
FROM final
ORDER BY unit_order, unit, rank NULLS LAST, person_key
