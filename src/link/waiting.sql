-- The rows still waiting in `pending` (after a run's writes): the newest row of each record that
-- waits for its person (no version of the record is in the lake) or for its date (a future_date
-- row of which no later version reached the lake). Inputs: pending, signals.
-- One output row: the count.
WITH
pending_latest AS (
  SELECT p.*, row_number() OVER (
    PARTITION BY table_name, record_id ORDER BY run_id DESC, file_order DESC, line DESC) AS newest
  FROM pending p
),
waiting_for_person AS (
  SELECT p.table_name FROM pending_latest p
  WHERE newest = 1 AND p.reason <> 'future_date'
    AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.table_name = p.table_name AND s.record_id = p.record_id)
),
waiting_for_date AS (
  SELECT p.table_name FROM pending_latest p
  WHERE newest = 1 AND p.reason = 'future_date'
    AND NOT EXISTS (SELECT 1 FROM signals s WHERE s.table_name = p.table_name AND s.record_id = p.record_id
                    AND (s.run_id > p.run_id OR (s.run_id = p.run_id AND (s.file > p.file OR (s.file = p.file AND s.line > p.line)))))
),
final AS (
  SELECT count(*) AS waiting FROM (
    SELECT table_name FROM waiting_for_person
    UNION ALL
    SELECT table_name FROM waiting_for_date
  )
)
SELECT * FROM final
