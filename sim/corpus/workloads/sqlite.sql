-- sqlite3: build a 300k-row table, index it, query it.
PRAGMA cache_size = -65536;
PRAGMA journal_mode = OFF;
CREATE TABLE t(id INTEGER PRIMARY KEY, k INTEGER, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000)
INSERT INTO t SELECT x, (x * 7919) % 100003, hex(randomblob(64)) FROM c;
CREATE INDEX t_k ON t(k);
SELECT count(*), sum(length(v)) FROM t;
SELECT k % 97 AS b, count(*), max(v) FROM t GROUP BY b ORDER BY 2 DESC LIMIT 3;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 20000)
SELECT count(*) FROM c JOIN t ON t.k = (c.x * 31) % 100003;
UPDATE t SET v = hex(randomblob(32)) WHERE id % 5 = 0;
SELECT count(*) FROM t WHERE v LIKE 'A%';
