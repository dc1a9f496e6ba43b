-- Every row quarantined from an inbox file ingested for one as-of date (by any committed run of
-- that date): where, which column, why, never a value. Inputs: runs, quarantine; {as_of} is the
-- date, {decisions} the table name of reviewers' decision files, whose rows are listed apart
-- ({of_decisions}: true for those, false for the inbox's data files).
WITH
day_runs AS (
  SELECT run_id FROM runs WHERE as_of = '{as_of}'
),
final AS (
  SELECT q.file, q.line, q.column_name, q.reason, q.record_id, q.run_id
  FROM quarantine q JOIN day_runs r ON q.run_id = r.run_id
  WHERE (q.table_name = '{decisions}') = {of_decisions}
)
SELECT * FROM final ORDER BY file, line, run_id
