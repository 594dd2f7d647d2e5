-- Each webhook send of a delivery, with how long the receiver took to answer (measured by
-- the sender in edge-worker/src/deliver.rs), for the console's timeline: a JSON list of
-- {attempt, at, response, latency_ms}, the latest 20 (crates/sessions/src/deliveries.rs).
ALTER TABLE webhook_deliveries ADD COLUMN attempt_log TEXT NOT NULL DEFAULT '[]';
