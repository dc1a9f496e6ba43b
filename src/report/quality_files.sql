-- Every inbox file ingested for one as-of date, by any committed run of that date (a day may
-- take several runs: a rerun after a failure, a second delivery), with its quarantined rows
-- counted by reason. Inputs: runs, files, quarantine; {as_of} is the date.
-- One output row per file and reason (reason NULL for a file without quarantined rows).
WITH
day_runs AS (
  SELECT run_id FROM runs WHERE as_of = '{as_of}'
),
day_files AS (
  SELECT f.* FROM files f JOIN day_runs r ON f.run_id = r.run_id
),
day_reasons AS (
  SELECT q.run_id, q.file, q.reason, count(*) AS rows_with_reason
  FROM quarantine q JOIN day_runs r ON q.run_id = r.run_id
  GROUP BY q.run_id, q.file, q.reason
),
final AS (
  SELECT f.run_id, f.file, f.table_name, f.status, f.format, f.encoding, f.sha256, f.duplicate_of,
         f.size, f.mtime, f.rows_read, f.rows_accepted, f.rows_quarantined, f.rows_duplicate,
         q.reason, q.rows_with_reason
  FROM day_files f
  LEFT JOIN day_reasons q ON f.run_id = q.run_id AND f.file = q.file
)
SELECT * FROM final ORDER BY table_name, file, run_id, reason
