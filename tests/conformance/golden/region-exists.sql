SELECT EXISTS (SELECT * 
FROM (SELECT %(param_1)s::SMALLINT AS region__k, concat(%(param_2)s::VARCHAR, CAST(m0.id AS TEXT)) AS region__v, CAST(NULL AS TEXT) AS region__dt, CAST(NULL AS TEXT) AS region__lang, CAST(NULL AS NUMERIC) AS region__num, CAST(NULL AS TIMESTAMP WITH TIME ZONE) AS region__ts, CAST(NULL AS geometry(GEOMETRY,4326)) AS region__geom 
FROM region AS m0 
WHERE m0.name IS NOT NULL AND %(param_3)s::VARCHAR = CAST(m0.name AS TEXT)) AS n1) AS anon_1
