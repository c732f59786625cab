SELECT m1.id, m0.id AS id_1 
FROM cube AS m0 JOIN region AS m1 ON true 
WHERE m1.geom IS NOT NULL AND m0.footprint IS NOT NULL AND (ST_Within(m1.geom, m0.footprint))
