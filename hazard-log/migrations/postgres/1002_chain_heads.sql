-- Where each audit chain was last verified up to (one chain per collector in front of ClickHouse;
-- chain 0 alone otherwise): the next incremental verification of that chain starts there.
CREATE TABLE chain_heads (
    chain      BIGINT  NOT NULL PRIMARY KEY,
    head_seq   BIGINT  NOT NULL,
    head_hash  TEXT    NOT NULL,
    at_ns      BIGINT  NOT NULL
);
