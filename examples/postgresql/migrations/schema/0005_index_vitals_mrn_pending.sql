-- @no-transaction
--
-- 0005 index vitals mrn pending: the rows data migration 0006 still has to
-- fill, as a partial index.
--
-- vitals is the big, busy table: a plain CREATE INDEX would block every insert
-- of a measurement until it finished. CREATE INDEX CONCURRENTLY does not, but
-- it cannot run inside a transaction, hence @no-transaction: the runner runs
-- each statement on its own. If the build fails midway PostgreSQL leaves an
-- INVALID index behind, and the runner marks the database dirty; the DROP
-- first makes a --resume build it again from scratch (IF NOT EXISTS alone
-- would keep the invalid one). The build may take long on a big table, and
-- blocks no writes meanwhile: its statement_timeout is generous.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1h';

DROP INDEX CONCURRENTLY IF EXISTS idx_vitals_mrn_pending;

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_vitals_mrn_pending
ON vitals (vital_id)
WHERE patient_mrn IS NULL;
