-- How far the incremental scan has read each audit chain (one per collector in front of ClickHouse;
-- chain 0 alone otherwise, whose position scan_state.last_seq kept before there were several).
CREATE TABLE scan_chains (
    chain     BIGINT NOT NULL PRIMARY KEY,
    last_seq  BIGINT NOT NULL
);
