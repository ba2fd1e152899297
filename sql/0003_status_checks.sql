-- 0003: the status checks of run_orders and jobs as plain comparisons.
--
-- SQLite checks `status IN (...)` with three or more values by building a
-- temporary b-tree for every row it writes, which made each order's insert
-- (at download) and update (when reported) cost about three times the write
-- itself. `status = 'a' OR status = 'b' ...` allows exactly the same values.
-- Both tables are leaves (no table references them), so each is rebuilt under
-- a new name, filled, and renamed in place; rows, ids and indexes are kept.

CREATE TABLE run_orders_0003 (
    run_user_id INTEGER NOT NULL REFERENCES run_users (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    order_ref   TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status = 'pending' OR status = 'reported' OR status = 'failed'),
    reported_at INTEGER,
    error       TEXT,
    -- An order appears once per list: the download step removes repeats
    -- (cheaper than a second index over every order).
    PRIMARY KEY (run_user_id, seq)
) WITHOUT ROWID;
INSERT INTO run_orders_0003 (run_user_id, seq, order_ref, status, reported_at, error)
SELECT run_user_id, seq, order_ref, status, reported_at, error FROM run_orders;
DROP TABLE run_orders;
ALTER TABLE run_orders_0003 RENAME TO run_orders;

CREATE TABLE jobs_0003 (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('download', 'report')),
    run_id           INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    run_user_id      INTEGER NOT NULL REFERENCES run_users (id) ON DELETE CASCADE,
    range_id         INTEGER REFERENCES ranges (id) ON DELETE CASCADE,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status = 'queued' OR status = 'running' OR status = 'retrying'
                            OR status = 'done' OR status = 'failed'),
    attempt          INTEGER NOT NULL DEFAULT 0,
    failures         INTEGER NOT NULL DEFAULT 0,
    max_retries      INTEGER NOT NULL,
    -- Order of claims within a run: downloads (0) first, then each user's
    -- first full range, each user's second, ... (round robin), then the short
    -- last ranges, longest first, which fill the tail of the run.
    claim_order      INTEGER NOT NULL DEFAULT 0,
    run_after        INTEGER NOT NULL,
    lease_owner      TEXT,
    lease_expires_at INTEGER,
    last_error       TEXT,
    created_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER,
    CHECK ((kind = 'report') = (range_id IS NOT NULL))
);
INSERT INTO jobs_0003 (id, kind, run_id, run_user_id, range_id, status, attempt, failures, max_retries,
                       claim_order, run_after, lease_owner, lease_expires_at, last_error, created_at,
                       started_at, finished_at)
SELECT id, kind, run_id, run_user_id, range_id, status, attempt, failures, max_retries,
       claim_order, run_after, lease_owner, lease_expires_at, last_error, created_at,
       started_at, finished_at
FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_0003 RENAME TO jobs;
CREATE INDEX jobs_claimable ON jobs (run_id, claim_order, id) WHERE status IN ('queued', 'retrying');
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_by_run_user ON jobs (run_user_id, status);
CREATE UNIQUE INDEX jobs_one_download_per_run_user ON jobs (run_user_id) WHERE kind = 'download';
CREATE UNIQUE INDEX jobs_one_per_range ON jobs (range_id) WHERE range_id IS NOT NULL;
