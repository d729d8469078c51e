-- confab schema, version 4: incoming phone numbers (the IncomingPhoneNumbers resource).
--
-- A number belongs to one account: `phone_number` (E.164 with its `+`) is unique across all
-- accounts, and that unique index is also how an inbound call finds its number and account.

CREATE TABLE phone_numbers (
    sid                     TEXT PRIMARY KEY,
    account_sid             TEXT NOT NULL REFERENCES accounts (sid),
    phone_number            TEXT NOT NULL,
    friendly_name           TEXT NOT NULL,
    voice_url               TEXT,
    voice_method            TEXT NOT NULL,
    voice_fallback_url      TEXT,
    voice_fallback_method   TEXT NOT NULL,
    status_callback         TEXT,
    status_callback_method  TEXT NOT NULL,
    date_created            BIGINT NOT NULL,
    date_updated            BIGINT NOT NULL
);

CREATE UNIQUE INDEX phone_numbers_by_number ON phone_numbers (phone_number);
-- Listing an account's numbers newest first.
CREATE INDEX phone_numbers_by_account ON phone_numbers (account_sid, date_created, sid);
