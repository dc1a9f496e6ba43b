-- A tour of the lake, one query per block. Run each with:
--   cargo run --release -- query --pipeline pipelines/demo.toml "<query>"

-- 1. What was ingested, file by file, with the row accounting of each.
SELECT file, status, rows_read, rows_accepted, rows_quarantined, rows_duplicate FROM files ORDER BY file;

-- 2. Why rows were quarantined, by table and reason.
SELECT table_name, reason, count(*) AS rows FROM quarantine GROUP BY table_name, reason ORDER BY table_name, rows DESC;

-- 3. Signals per category and department.
SELECT category, source, count(*) AS signals, count(DISTINCT person_key) AS people
FROM signals WHERE category IS NOT NULL GROUP BY category, source ORDER BY category, source;

-- 4. How people were linked: a given person_key, pseudonymised from id_number, or by name hash.
SELECT link_method, count(*) AS signals FROM signals GROUP BY link_method;

-- 5. People seen by two or more departments (the raw material of a collision).
SELECT count(*) AS people FROM (
  SELECT person_key FROM signals WHERE category IS NOT NULL
  GROUP BY person_key HAVING count(DISTINCT source) >= 2);

-- 6. Rows still waiting for their person.
SELECT table_name, reason, count(*) FROM pending GROUP BY table_name, reason;
