SELECT m0.id 
FROM region AS m0 
WHERE m0.name IS NOT NULL AND %(param_1)s::VARCHAR = CAST(m0.name AS TEXT)
