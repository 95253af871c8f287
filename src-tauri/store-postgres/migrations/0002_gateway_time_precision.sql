-- The gateway's lastUpdateTimeUtc has 100 ns ticks (7 fractional digits); timestamptz
-- keeps microseconds, so two answers 100 ns apart, or one at exactly the time we hold,
-- could not be told apart. The time that orders answers is kept as 100 ns ticks since
-- 1970; the timestamptz stays for reading by people and tools.
-- (IF NOT EXISTS: the statement can be run again, as its test does.)
ALTER TABLE payment_jobs ADD COLUMN IF NOT EXISTS gateway_updated_ticks bigint;
-- What is already held has microseconds at best: whole seconds, then the rest, exactly
-- (no floating point on the way).
UPDATE payment_jobs
   SET gateway_updated_ticks =
         extract(epoch FROM date_trunc('second', gateway_updated_at))::bigint * 10000000
         + (extract(microseconds FROM gateway_updated_at)::bigint % 1000000) * 10
 WHERE gateway_updated_at IS NOT NULL AND gateway_updated_ticks IS NULL;
