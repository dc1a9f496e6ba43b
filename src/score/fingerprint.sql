-- The inputs fingerprint of each month end of `fp_months` (month_end, young_after): what its
-- counts (and the new and lifted counts against the month end before it) are evaluated from.
-- That is every signal dated on or before the month end (a correction, a re-delivery with other
-- values, a newly linked pending row, another birth date, gender or township each change a
-- signal's record_hash), of every person who may be a minor on the month end before it: someone
-- whose latest birth date in any record is after `young_after` (18 years before that month end).
-- People who were adults then (the age-out purge removes only such people from a month end that
-- is not sealed) do not change it. Rows are combined with bit_xor, so their order does not matter.
WITH people AS (
  SELECT person_key, coalesce(max(birth_on), DATE '9999-12-31') AS latest_birth FROM signals GROUP BY person_key
),
hashed AS (
  SELECT last_day_of_month(coalesce(s.event_on, DATE '1900-01-01')) AS event_month,
         last_day_of_month(p.latest_birth) AS birth_month,
         hash64(md5(concat_ws('|', s.record_hash, CAST(s.is_also AS VARCHAR), s.category, CAST(s.severity AS VARCHAR)))) AS h
  FROM signals s JOIN people p ON p.person_key = s.person_key
),
buckets AS (
  SELECT event_month, birth_month, count(*) AS n, bit_xor(h) AS x FROM hashed GROUP BY event_month, birth_month
),
final AS (
  SELECT CAST(m.month_end AS VARCHAR) AS month_end,
         concat(CAST(sum(b.n) AS VARCHAR), ':', CAST(bit_xor(b.x) AS VARCHAR)) AS fingerprint
  FROM fp_months m JOIN buckets b ON b.event_month <= m.month_end AND b.birth_month > m.young_after
  GROUP BY m.month_end
)
SELECT * FROM final
