-- confab schema, version 1. Written for both SQLite and PostgreSQL:
-- times are BIGINT milliseconds since the Unix epoch (UTC), booleans are BOOLEAN.

CREATE TABLE accounts (
    sid            TEXT PRIMARY KEY,
    auth_token     TEXT NOT NULL,
    style          TEXT NOT NULL,
    friendly_name  TEXT NOT NULL,
    date_created   BIGINT NOT NULL
);

CREATE TABLE conferences (
    sid                     TEXT PRIMARY KEY,
    account_sid             TEXT NOT NULL REFERENCES accounts (sid),
    friendly_name           TEXT NOT NULL,
    status                  TEXT NOT NULL,
    region                  TEXT NOT NULL,
    date_created            BIGINT NOT NULL,
    date_updated            BIGINT NOT NULL,
    reason_ended            TEXT,
    call_sid_ending         TEXT,
    end_detail              TEXT,
    max_participants        INTEGER NOT NULL,
    announce_url            TEXT,
    announce_method         TEXT NOT NULL,
    status_callback         TEXT,
    status_callback_method  TEXT NOT NULL,
    status_callback_events  TEXT NOT NULL,
    record                  TEXT NOT NULL,
    trim_silence            TEXT NOT NULL
);

CREATE INDEX conferences_by_account ON conferences (account_sid, date_created, sid);
-- One live conference per room name and account.
CREATE UNIQUE INDEX conferences_live_name ON conferences (account_sid, friendly_name)
    WHERE status <> 'completed';

CREATE TABLE participants (
    call_sid                   TEXT PRIMARY KEY,
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
    from_endpoint              TEXT NOT NULL,
    to_endpoint                TEXT NOT NULL,
    timeout_secs               INTEGER NOT NULL,
    status_callback            TEXT,
    status_callback_method     TEXT NOT NULL,
    status_callback_events     TEXT NOT NULL,
    record                     BOOLEAN NOT NULL,
    date_created               BIGINT NOT NULL,
    date_updated               BIGINT NOT NULL
);

CREATE INDEX participants_by_conference ON participants (conference_sid, date_created, call_sid);
