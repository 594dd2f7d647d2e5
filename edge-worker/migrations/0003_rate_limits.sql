-- Requests per API key, endpoint class and minute (contract 3.4). Old windows are swept by
-- the cron.
CREATE TABLE IF NOT EXISTS rate_limits (
    bucket TEXT NOT NULL,
    window INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (bucket, window)
);
