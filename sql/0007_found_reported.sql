-- 0007: which reported orders this run submitted, and which it found already
-- reported on the portal (`reported_if`, or the portal's own record) and so
-- did not send. An operator auditing what reporter sent reads the difference
-- in `progress` (orders_submitted, orders_found_reported).

ALTER TABLE run_orders ADD COLUMN found_reported INTEGER NOT NULL DEFAULT 0;
