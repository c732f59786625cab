SELECT m0.id, CAST(m0.name AS TEXT) AS name 
FROM region AS m0 
WHERE m0.name IS NOT NULL AND m0.geom IS NOT NULL AND (ST_Intersects(m0.geom, ST_GeomFromEWKB(%(param_1)s)))
