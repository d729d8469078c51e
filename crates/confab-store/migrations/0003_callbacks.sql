-- confab schema, version 3: the status-callback outbox and its history.
--
-- A row is written pending in the same transaction as the state change that caused it; the
-- delivery worker updates its outcome. Callbacks of one source (a conference, or one call's
-- progress events) are numbered by `sequence`, which with the source is the key. `params` is a
-- JSON array of [name, value] pairs, in the order they are sent. Finished rows (delivered,
-- failed, dropped) are pruned to a bounded number per account; pending rows never are.

CREATE TABLE callbacks (
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
    finished         BIGINT,
    PRIMARY KEY (source_kind, source_sid, sequence)
);

-- What is left to deliver after a restart, oldest first.
CREATE INDEX callbacks_pending ON callbacks (created, source_kind, source_sid, sequence)
    WHERE state = 'pending';
-- Listing an account's callbacks newest first (and pruning its oldest finished ones). The filters
-- by the call an event is about and by delivery state have no index of their own: they walk this
-- one, whose rows per account are bounded (at most the retention bound of finished callbacks plus
-- the outbox bound of undelivered ones). An index on `call_sid` would take an insert at a random
-- place for every callback (most of the cost of writing one), one on `state` a rewrite at every
-- delivery.
CREATE INDEX callbacks_by_account ON callbacks (account_sid, created, source_kind, source_sid, sequence);
