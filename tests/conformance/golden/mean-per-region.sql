SELECT CAST(m1.name AS TEXT) AS name, CAST(CAST(avg(m0.mean) AS DOUBLE PRECISION) AS TEXT) AS avg_1, CAST(count(%(param_1)s::SMALLINT) AS TEXT) AS count_1 
FROM zonal_stat AS m0 JOIN region AS m1 ON true 
WHERE m0.mean IS NOT NULL AND m1.name IS NOT NULL AND m0.region_id = m1.id GROUP BY CAST(m1.name AS TEXT) 
HAVING (CAST(count(%(param_1)s::SMALLINT) AS NUMERIC) > %(param_2)s)
