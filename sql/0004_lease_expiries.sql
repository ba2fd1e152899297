-- 0004: how often each job's lease expired under its worker.
--
-- A job whose worker dies under it (it crashes the worker, wedges it or starves
-- it) was claimed again as soon as its lease expired, with no limit: `attempt`
-- grew, `failures` did not. The claim now counts each expiry here, and after
-- `retry.max_lease_expiries` the job ends failed with that reason instead.

ALTER TABLE jobs ADD COLUMN lease_expiries INTEGER NOT NULL DEFAULT 0;
