-- 0001: the whole schema of reporter.
--
-- Created at once so later work adds logic, not tables. Times are Unix
-- milliseconds (INTEGER) unless a column says otherwise; texts meant for people
-- (scheduled_for) keep the slot's own offset.

-- Customers whose orders are reported.
CREATE TABLE users (
    id                      INTEGER PRIMARY KEY,
    name                    TEXT    NOT NULL UNIQUE,
    login                   TEXT    NOT NULL,
    monthly_orders_estimate INTEGER NOT NULL DEFAULT 0 CHECK (monthly_orders_estimate >= 0),
    created_at              INTEGER NOT NULL
);

-- Settings of the slot system as a whole: exactly one row.
CREATE TABLE slot_config (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    default_max_users INTEGER NOT NULL CHECK (default_max_users >= 0),
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    updated_at        INTEGER NOT NULL
);

-- One row per hour of the day, with its capacity.
CREATE TABLE hour_slots (
    hour      INTEGER PRIMARY KEY CHECK (hour BETWEEN 0 AND 23),
    max_users INTEGER NOT NULL CHECK (max_users >= 0)
);

-- A user holds at most one reservation: the primary key is the user.
CREATE TABLE reservations (
    user_id    INTEGER PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hour       INTEGER NOT NULL REFERENCES hour_slots (hour),
    created_at INTEGER NOT NULL
);
CREATE INDEX reservations_by_hour ON reservations (hour);

-- One run per slot and day: UNIQUE (run_date, hour) makes run-slot idempotent,
-- also when an hour occurs twice (DST) or two timers fire at once.
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    run_date      TEXT    NOT NULL,
    hour          INTEGER NOT NULL CHECK (hour BETWEEN 0 AND 23),
    scheduled_at  INTEGER NOT NULL,
    scheduled_for TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'done', 'failed')),
    created_at    INTEGER NOT NULL,
    finished_at   INTEGER,
    UNIQUE (run_date, hour)
);

-- The users of one run, as their reservations stood when the run was created.
CREATE TABLE run_users (
    id             INTEGER PRIMARY KEY,
    run_id         INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    user_id        INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    status         TEXT    NOT NULL DEFAULT 'queued'
                   CHECK (status IN ('queued', 'running', 'done', 'failed')),
    pending_orders INTEGER,
    error          TEXT,
    started_at     INTEGER,
    finished_at    INTEGER,
    UNIQUE (run_id, user_id)
);
CREATE INDEX run_users_by_user ON run_users (user_id);

-- The orders found pending by one run user's download+compare, numbered 1..N.
CREATE TABLE run_orders (
    run_user_id INTEGER NOT NULL REFERENCES run_users (id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL CHECK (seq >= 1),
    order_ref   TEXT    NOT NULL,
    status      TEXT    NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'reported', 'failed')),
    reported_at INTEGER,
    error       TEXT,
    -- An order appears once per list: the download step removes repeats
    -- (cheaper than a second index over every order).
    PRIMARY KEY (run_user_id, seq)
) WITHOUT ROWID;

-- Ranges of range_size pending orders; each is worked by one report job.
CREATE TABLE ranges (
    id          INTEGER PRIMARY KEY,
    run_user_id INTEGER NOT NULL REFERENCES run_users (id) ON DELETE CASCADE,
    range_start INTEGER NOT NULL CHECK (range_start >= 1),
    range_end   INTEGER NOT NULL CHECK (range_end >= range_start),
    status      TEXT    NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'done', 'failed')),
    UNIQUE (run_user_id, range_start)
);

-- The orders known per user, to compare each export against and to remember
-- what was reported, when and in which run.
CREATE TABLE orders (
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    order_ref        TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    status_since     INTEGER NOT NULL,
    seen_at          INTEGER NOT NULL,
    reported_at      INTEGER,
    reported_run_id  INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    PRIMARY KEY (user_id, order_ref)
) WITHOUT ROWID;

-- The job queue. A claim bumps `attempt` and sets the lease; every later write
-- is fenced on (id, attempt), so a worker that lost its lease changes nothing.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY,
    kind             TEXT    NOT NULL CHECK (kind IN ('download', 'report')),
    run_id           INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    run_user_id      INTEGER NOT NULL REFERENCES run_users (id) ON DELETE CASCADE,
    range_id         INTEGER REFERENCES ranges (id) ON DELETE CASCADE,
    status           TEXT    NOT NULL DEFAULT 'queued'
                     CHECK (status IN ('queued', 'running', 'retrying', 'done', 'failed')),
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
CREATE INDEX jobs_claimable ON jobs (run_id, claim_order, id) WHERE status IN ('queued', 'retrying');
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_by_run_user ON jobs (run_user_id, status);
CREATE UNIQUE INDEX jobs_one_download_per_run_user ON jobs (run_user_id) WHERE kind = 'download';
CREATE UNIQUE INDEX jobs_one_per_range ON jobs (range_id) WHERE range_id IS NOT NULL;

-- Live `reporter work` processes, for `status`.
CREATE TABLE workers (
    id          TEXT    PRIMARY KEY,
    host        TEXT    NOT NULL,
    pid         INTEGER NOT NULL,
    concurrency INTEGER NOT NULL,
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    stopped_at  INTEGER
);
