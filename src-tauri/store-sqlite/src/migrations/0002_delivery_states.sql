-- The delivery state machine (domain::delivery): a pending delivery carries the run of
-- failures it is in and when it is next due, so backoff survives a restart and the worker
-- keeps nothing in memory for a delivery that is waiting.
ALTER TABLE deliveries ADD COLUMN failure_class TEXT;
ALTER TABLE deliveries ADD COLUMN failing_since TEXT;
ALTER TABLE deliveries ADD COLUMN failing_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN retry_at TEXT;
UPDATE deliveries SET state = 'unknown' WHERE state = 'unknownReference';
-- What the owner must look at, counted without a scan of every delivery.
CREATE INDEX deliveries_dead ON deliveries (id) WHERE state = 'dead';
CREATE INDEX deliveries_unknown ON deliveries (id) WHERE state = 'unknown';
