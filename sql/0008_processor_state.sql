-- Processors' keyed state and timers (engine/sb_kstate.c, engine/sb_timers.c).
--
-- One table of each for every processor, keyed by the schema the processor
-- writes its projection to (its name for the live projection, another one
-- while a replay rebuilds it), then the Kafka partition the key belongs to:
-- a partition's rows are loaded in one query when it is assigned and move
-- with it. Written in the batch's transaction, with the projection rows and
-- the offsets they account for, so state, timers and offsets never disagree.

CREATE TABLE sb.processor_state (
  schema    text    NOT NULL,
  topic     text    NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  key       text    NOT NULL CHECK (key <> ''),
  value     bytea   NOT NULL,
  PRIMARY KEY (schema, topic, partition, key)
);

COMMENT ON TABLE sb.processor_state IS
  'Keyed state of each processor per (topic, partition, key): opaque bytes, written with the batch.';

-- One timer per key. due_us: microseconds since the Unix epoch, by the
-- wall clock (kind wall) or by the partition's event time (kind event).
CREATE TABLE sb.processor_timers (
  schema    text    NOT NULL,
  topic     text    NOT NULL,
  partition integer NOT NULL CHECK (partition >= 0),
  key       text    NOT NULL CHECK (key <> ''),
  kind      text    NOT NULL CHECK (kind IN ('wall', 'event')),
  due_us    bigint  NOT NULL CHECK (due_us >= 0),
  PRIMARY KEY (schema, topic, partition, key)
);

COMMENT ON TABLE sb.processor_timers IS
  'Timers of each processor per (topic, partition, key), written with the batch; deleted when fired.';

-- A partition's event time (the greatest occurred_at its events carried,
-- microseconds since the Unix epoch), kept so that a restart fires event
-- timers exactly where the run before it would have.
CREATE TABLE sb.processor_event_time (
  schema        text    NOT NULL,
  topic         text    NOT NULL,
  partition     integer NOT NULL CHECK (partition >= 0),
  event_time_us bigint  NOT NULL,
  PRIMARY KEY (schema, topic, partition)
);

COMMENT ON TABLE sb.processor_event_time IS
  'Event time per processor schema and partition: what event timers are measured against.';

GRANT SELECT, INSERT, UPDATE, DELETE ON sb.processor_state, sb.processor_timers,
  sb.processor_event_time TO switchboard_app;
