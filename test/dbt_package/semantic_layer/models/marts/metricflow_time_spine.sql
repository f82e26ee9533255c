-- The time spine dbt's semantic layer requires (dbt 1.9 and later refuse to parse a
-- project with semantic models and no time spine of granularity day or finer).
select day::date as date_day
from generate_series(date '2024-01-01', date '2024-12-31', interval '1 day') as day
