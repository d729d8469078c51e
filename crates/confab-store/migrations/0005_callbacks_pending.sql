-- confab schema, version 5: the callbacks table loses its index of pending rows.
--
-- Every callback was inserted into that index with its row and removed again when its outcome
-- was written: two index changes per callback, paid thousands of times a second, for a query
-- that runs once, when the server starts (what a crash left undelivered). That query now reads
-- the table, whose rows are bounded per account (the history bound plus the outbox bound).
DROP INDEX IF EXISTS callbacks_pending;
