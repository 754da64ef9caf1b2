-- rollback 0005: remove the partial index of the rows still to fill.
--
-- A rollback runs in the runner's transaction, where DROP INDEX CONCURRENTLY
-- cannot run. A plain DROP INDEX needs an ACCESS EXCLUSIVE lock on vitals, but
-- only for the moment the catalog changes; lock_timeout bounds the wait for it.

-- Wait at most 5 s for a lock: a migration queued behind a long query would
-- block every query queued behind it. The runner sets both back after the file.
SET lock_timeout = '5s';
SET statement_timeout = '1min';

-- noqa: MG724 in the rollback's transaction; the lock is held for a moment
DROP INDEX idx_vitals_mrn_pending;
