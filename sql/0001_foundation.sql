-- Switchboard foundation.
--
-- Consumed offsets live here, written in the same transaction as the
-- projection rows they account for: the engine seeks to these on start and
-- on every partition assignment, not to the group's offsets in Kafka.
CREATE SCHEMA IF NOT EXISTS sb;

CREATE TABLE sb.consumer_offsets (
  consumer_group text        NOT NULL,
  topic          text        NOT NULL,
  partition      integer     NOT NULL CHECK (partition >= 0),
  next_offset    bigint      NOT NULL CHECK (next_offset >= 0),
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer_group, topic, partition)
);

COMMENT ON TABLE sb.consumer_offsets IS
  'Next offset to read per (group, topic, partition); committed with the projection rows.';
