-- Devices and addresses seen on a user's approved sessions, for the step-up rules ("known
-- device, known IP") and Didit's DUPLICATED_IP_ADDRESS / DUPLICATED_DEVICE_FINGERPRINT.
-- `hash` is an HMAC under the service's key (crates/signals device::keyed_hash): the table never
-- holds an address or the page's device id. Rows go with the user (data-subject deletion) and
-- after the retention period unseen (housekeeping).
CREATE TABLE known_signals (
  application_id TEXT NOT NULL,
  vendor_data TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('device', 'ip')),
  hash TEXT NOT NULL,
  session_id TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  count INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (application_id, vendor_data, kind, hash)
);
-- "Who else was seen with this device or address" reads by hash.
CREATE INDEX known_signals_by_hash ON known_signals (application_id, hash);
CREATE INDEX known_signals_by_last_seen ON known_signals (last_seen);
