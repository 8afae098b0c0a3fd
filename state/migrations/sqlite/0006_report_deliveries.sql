-- Each scheduled report delivery attempted: what a restarted process reads to catch up on the
-- firings it missed while it was down, and to retry one that failed.
CREATE TABLE report_deliveries (
    schedule      TEXT    NOT NULL,
    tick_ns       BIGINT  NOT NULL,
    attempted_ns  BIGINT  NOT NULL,
    delivered     INTEGER NOT NULL,
    detail        TEXT    NOT NULL,
    PRIMARY KEY (schedule, tick_ns)
);
