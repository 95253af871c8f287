-- Which machines use the shared database, so a window can say who takes the
-- notifications and when that machine last confirmed one. Each process keeps its own row
-- (a serve: every heartbeat and within a second of a confirmation; a window: every
-- heartbeat). Every time here is the database's clock (now()), never a machine's own, so
-- "seen 20 s ago" means the same on every machine whatever their clocks say.
CREATE TABLE machines (
    -- One run of one process: machine name, process id and a random part.
    id                text PRIMARY KEY,
    machine           text NOT NULL,
    role              text NOT NULL CHECK (role IN ('serve', 'window')),
    started_at        timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    -- When this process last confirmed a notification with the gateway (serves only).
    last_confirmed_at timestamptz,
    -- Set when the process stopped cleanly; a process that died is only seen going stale.
    stopped_at        timestamptz
);
CREATE INDEX machines_by_last_seen ON machines (last_seen_at);
