-- Outbox leases: a sender claims due rows by moving their next attempt to the lease's end and
-- writing its claim id, in one statement; only the claim holder may record the send's result.
-- A sender that dies leaves the rows due again when the lease ends.
ALTER TABLE webhook_deliveries ADD COLUMN claim TEXT;
CREATE INDEX IF NOT EXISTS deliveries_by_app_session ON webhook_deliveries (application_id, session_id);
