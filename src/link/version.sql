-- Step 2 of 2: one current version per record. Input: linked (step 1), signals (the lake).
-- One output row per linked record, with its status:
--   accepted    new, or a correction of the version before it
--   duplicate   identical to the version before it (in the lake or earlier in this run)
--   quarantined unlinkable / ambiguous_link (kept in `pending` and retried)
-- Most keys arrive once and are new to the lake; only the others are ordered by window.
WITH
hashed AS (
  SELECT * FROM linked WHERE link_reason IS NULL
),
key_counts AS (
  SELECT table_name, record_id, count(*) AS arrivals
  FROM hashed
  GROUP BY table_name, record_id
),
lake_versions AS (
  SELECT DISTINCT s.table_name, s.record_id, s.record_hash
  FROM signals s
  JOIN key_counts k ON s.table_name = k.table_name AND s.record_id = k.record_id
),
contested_keys AS (
  SELECT table_name, record_id FROM key_counts WHERE arrivals > 1
  UNION
  SELECT table_name, record_id FROM lake_versions
),
-- RIGHT ANTI / SEMI: the hash table is built on the few contested keys, not on every row.
simple AS (
  SELECT h.* FROM contested_keys c
  RIGHT ANTI JOIN hashed h ON c.table_name = h.table_name AND c.record_id = h.record_id
),
contested AS (
  SELECT h.* FROM contested_keys c
  RIGHT SEMI JOIN hashed h ON c.table_name = h.table_name AND c.record_id = h.record_id
),
versions AS (
  SELECT {hashed_cols}, false AS in_lake FROM contested
  UNION ALL
  SELECT {null_cols}, true AS in_lake FROM lake_versions
),
ordered AS (
  SELECT v.*,
    lag(record_hash) OVER (PARTITION BY table_name, record_id
                           ORDER BY in_lake DESC, file_order, line) AS previous_hash,
    row_number() OVER (PARTITION BY table_name, record_id
                       ORDER BY in_lake, file_order DESC, line DESC) AS newest,
    max(CASE WHEN in_lake THEN record_hash END) OVER (PARTITION BY table_name, record_id) AS lake_hash
  FROM versions v
)
SELECT {out_cols}, 'accepted' AS status, CAST(NULL AS VARCHAR) AS status_reason,
       true AS write_version, false AS key_in_lake
FROM simple
UNION ALL
SELECT {out_cols},
       CASE WHEN previous_hash = record_hash THEN 'duplicate' ELSE 'accepted' END AS status,
       CAST(NULL AS VARCHAR) AS status_reason,
       newest = 1 AND (lake_hash IS NULL OR lake_hash <> record_hash) AS write_version,
       lake_hash IS NOT NULL AS key_in_lake
FROM ordered
WHERE NOT in_lake
UNION ALL
SELECT {out_cols}, 'quarantined' AS status, link_reason AS status_reason,
       false AS write_version, false AS key_in_lake
FROM linked
WHERE link_reason IS NOT NULL
