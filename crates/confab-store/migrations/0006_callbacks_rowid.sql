-- confab schema, version 6: the callbacks table keyed by a row number instead of its source.
--
-- The primary key on (source_kind, source_sid, sequence) was an index SQLite kept beside the
-- table. The sources of a busy server interleave (one conference's callback, then another's),
-- so every insert landed on another page of that index: most of the WAL written per callback
-- (about 1.9 pages per callback with it, 0.6 without, measured on a replica of the workload).
-- Now a callback is the table row `id` (SQLite's rowid): inserts append to the table's last
-- page, and the writer, which numbers the rows, remembers the row of every stored callback,
-- so an outcome is written by rowid and touches no index at all (the columns it changes are
-- in none). Source and sequence are plain columns: the lookups by them (the pending scan and
-- the last sequence at start, a page token's anchor) read the table or an account's index entries,
-- whose number is bounded (the history bound plus the outbox bound). `id` also orders the
-- rows: a source's callbacks are inserted in sequence order.

CREATE TABLE callbacks_by_id (
    id               INTEGER PRIMARY KEY,
    source_kind      TEXT NOT NULL,
    source_sid       TEXT NOT NULL,
    sequence         BIGINT NOT NULL,
    account_sid      TEXT NOT NULL REFERENCES accounts (sid),
    event            TEXT NOT NULL,
    call_sid         TEXT,
    url              TEXT NOT NULL,
    method           TEXT NOT NULL,
    params           TEXT NOT NULL,
    token            TEXT NOT NULL,
    created          BIGINT NOT NULL,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    response_status  INTEGER,
    error_code       INTEGER,
    error_message    TEXT,
    finished         BIGINT
);

INSERT INTO callbacks_by_id (source_kind, source_sid, sequence, account_sid, event, call_sid,
    url, method, params, token, created, state, attempts, response_status, error_code,
    error_message, finished)
SELECT source_kind, source_sid, sequence, account_sid, event, call_sid, url, method, params,
    token, created, state, attempts, response_status, error_code, error_message, finished
FROM callbacks ORDER BY created, source_kind, source_sid, sequence;

DROP TABLE callbacks;
ALTER TABLE callbacks_by_id RENAME TO callbacks;

-- Listing an account's callbacks newest first, as before: `created` rises, so an account's
-- inserts append to this index too (the filters walk it, see migration 3).
CREATE INDEX callbacks_by_account ON callbacks (account_sid, created, source_kind, source_sid, sequence);
