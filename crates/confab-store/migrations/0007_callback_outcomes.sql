-- confab schema, version 7: a callback's outcome is a row of its own.
--
-- The outcome (state, attempts, the answer's status, the error, when it finished) was written
-- by rewriting the callback's row, a record of about 700 bytes with its parameters and URL:
-- the writer decoded and re-encoded the record and dirtied its page again, a few milliseconds
-- after the insert had written it. Now an outcome is a narrow row keyed by the callback's row
-- number, appended (callbacks finish about in the order they were written) where a hundred fit
-- on a page. A callback with no outcome row is pending; pruning deletes a range of rows from
-- both tables. Measured with `examples/callback_write_cost.rs` (batches of 64): an outcome
-- 1.7-1.8 us of the writer's CPU and 171 bytes written, against 3.9-4.3 us and 1,065 bytes.

CREATE TABLE callback_outcomes (
    id               INTEGER PRIMARY KEY,
    state            TEXT NOT NULL,
    attempts         INTEGER NOT NULL,
    response_status  INTEGER,
    error_code       INTEGER,
    error_message    TEXT,
    finished         BIGINT
);

INSERT INTO callback_outcomes (id, state, attempts, response_status, error_code, error_message,
    finished)
SELECT id, state, attempts, response_status, error_code, error_message, finished
FROM callbacks WHERE state <> 'pending';

-- The callbacks lose their outcome columns: the table is rebuilt once (SQLite's DROP COLUMN
-- would rewrite every row once per column).
CREATE TABLE callbacks_v7 (
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
    created          BIGINT NOT NULL
);

INSERT INTO callbacks_v7 (id, source_kind, source_sid, sequence, account_sid, event, call_sid,
    url, method, params, token, created)
SELECT id, source_kind, source_sid, sequence, account_sid, event, call_sid, url, method, params,
    token, created
FROM callbacks;

DROP TABLE callbacks;
ALTER TABLE callbacks_v7 RENAME TO callbacks;

-- As in migration 6: an account's callbacks, newest first.
CREATE INDEX callbacks_by_account ON callbacks (account_sid, created, source_kind, source_sid, sequence);
