-- The delivery inbox becomes a claim queue: a worker holds what it claims until its
-- lease runs out, so no other worker confirms the same delivery (and settles only what it
-- holds, whatever order ids were committed in).
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN lease_until TEXT;
-- Who did what: user and machine, where several machines act on one shop.
ALTER TABLE audit ADD COLUMN actor TEXT;
