-- The change log: every write that changes an order (a confirmation, ship, unship, a link
-- created) appends its change here in the same transaction, and its NOTIFY names the row.
-- A process whose LISTEN connection dropped, or whose receiver fell behind, reads the
-- changes it missed after the last place it handled, instead of reloading everything.
-- Places are given out as rows are written, not as they commit: a reader takes a hole as
-- a write still committing (or rolled back), never as the end of the log.
-- Kept for days, not for ever: rows older than the store's retention are deleted when a
-- process starts and daily.
CREATE TABLE order_changes (
    seq             bigserial PRIMARY KEY,
    -- The writing process's name in notifications (its own changes are not told back).
    origin          text NOT NULL,
    job_ref         text COLLATE "C" NOT NULL,
    source          text NOT NULL,
    status_changed  boolean NOT NULL,
    previous_status text,
    -- The writing transaction's start by the database's clock, the same for every
    -- writer: retention is by it.
    changed_at      timestamptz NOT NULL DEFAULT now()
);
