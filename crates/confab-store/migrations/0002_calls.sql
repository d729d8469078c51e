-- confab schema, version 2: calls are entities of their own; a participant is the
-- membership of a call in a conference and no longer carries the call's settings.

CREATE TABLE calls (
    sid                     TEXT PRIMARY KEY,
    account_sid             TEXT NOT NULL REFERENCES accounts (sid),
    parent_call_sid         TEXT,
    from_endpoint           TEXT NOT NULL,
    to_endpoint             TEXT NOT NULL,
    direction               TEXT NOT NULL,
    status                  TEXT NOT NULL,
    start_time              BIGINT,
    answer_time             BIGINT,
    end_time                BIGINT,
    queue_time_ms           BIGINT NOT NULL,
    answered_by             TEXT,
    caller_name             TEXT,
    forwarded_from          TEXT,
    timeout_secs            INTEGER NOT NULL,
    time_limit_secs         INTEGER NOT NULL,
    status_callback         TEXT,
    status_callback_method  TEXT NOT NULL,
    status_callback_events  TEXT NOT NULL,
    fallback_url            TEXT,
    fallback_method         TEXT NOT NULL,
    date_created            BIGINT NOT NULL,
    date_updated            BIGINT NOT NULL
);

CREATE INDEX calls_by_account ON calls (account_sid, date_created, sid);
CREATE INDEX calls_live ON calls (status) WHERE status IN ('queued', 'ringing', 'in-progress');

-- Every participant so far was a call placed through Participants create.
INSERT INTO calls (sid, account_sid, parent_call_sid, from_endpoint, to_endpoint, direction, status,
                   start_time, answer_time, end_time, queue_time_ms, answered_by, caller_name,
                   forwarded_from, timeout_secs, time_limit_secs, status_callback,
                   status_callback_method, status_callback_events, fallback_url, fallback_method,
                   date_created, date_updated)
SELECT call_sid, account_sid, NULL, from_endpoint, to_endpoint, 'outbound-api',
       CASE status WHEN 'complete' THEN 'completed' WHEN 'failed' THEN 'failed'
                   WHEN 'connected' THEN 'in-progress' WHEN 'ringing' THEN 'ringing' ELSE 'queued' END,
       date_created, CASE WHEN status IN ('connected', 'complete') THEN date_created END,
       CASE WHEN status IN ('complete', 'failed') THEN date_updated END,
       0, NULL, NULL, NULL, timeout_secs, 14400, status_callback, status_callback_method,
       status_callback_events, NULL, 'POST', date_created, date_updated
FROM participants;

-- A participant is keyed by its conference and its call: one call may be a member of several
-- conferences over its life (Update Call moves it), each membership a row of its own.
CREATE TABLE memberships (
    call_sid                   TEXT NOT NULL,
    conference_sid             TEXT NOT NULL REFERENCES conferences (sid),
    account_sid                TEXT NOT NULL,
    label                      TEXT,
    status                     TEXT NOT NULL,
    muted                      BOOLEAN NOT NULL,
    hold                       BOOLEAN NOT NULL,
    coaching                   BOOLEAN NOT NULL,
    call_sid_to_coach          TEXT,
    start_conference_on_enter  BOOLEAN NOT NULL,
    end_conference_on_exit     BOOLEAN NOT NULL,
    beep                       TEXT NOT NULL,
    hold_url                   TEXT,
    hold_method                TEXT NOT NULL,
    announce_url               TEXT,
    announce_method            TEXT NOT NULL,
    wait_url                   TEXT,
    wait_method                TEXT NOT NULL,
    jitter_buffer_size         TEXT NOT NULL,
    record                     BOOLEAN NOT NULL,
    date_created               BIGINT NOT NULL,
    date_updated               BIGINT NOT NULL,
    PRIMARY KEY (conference_sid, call_sid)
);

INSERT INTO memberships (call_sid, conference_sid, account_sid, label, status, muted, hold, coaching,
                         call_sid_to_coach, start_conference_on_enter, end_conference_on_exit, beep,
                         hold_url, hold_method, announce_url, announce_method, wait_url, wait_method,
                         jitter_buffer_size, record, date_created, date_updated)
SELECT call_sid, conference_sid, account_sid, label, status, muted, hold, coaching,
       call_sid_to_coach, start_conference_on_enter, end_conference_on_exit, beep,
       hold_url, hold_method, announce_url, announce_method, wait_url, wait_method,
       jitter_buffer_size, record, date_created, date_updated
FROM participants;

DROP INDEX participants_by_conference;
DROP TABLE participants;
ALTER TABLE memberships RENAME TO participants;
CREATE INDEX participants_by_conference ON participants (conference_sid, date_created, call_sid);

-- List Conferences by FriendlyName (how an application finds the room a call dialled into)
-- without visiting every conference of the account.
CREATE INDEX conferences_by_name ON conferences (account_sid, friendly_name, date_created, sid);
