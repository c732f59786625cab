SELECT m1.id, m0.id AS id_1 
FROM cube AS m0 JOIN region AS m1 ON true 
WHERE CASE WHEN (m1.geom IS NOT NULL) THEN %(param_1)s::SMALLINT ELSE NULL END IS NOT NULL AND CASE WHEN (m0.footprint IS NOT NULL) THEN %(param_2)s::SMALLINT ELSE NULL END IS NOT NULL AND (ST_Within(m1.geom, m0.footprint))
