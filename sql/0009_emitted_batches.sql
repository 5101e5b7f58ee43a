-- Derived events counted once: every processor whose part of a batch
-- emitted derived events records the batch's transaction id here, in that
-- same transaction (its savepoint). A derived event carries the id of the
-- batch and the processor that emitted it (headers sb-txid,
-- sb-emitted-by); a retried or crashed batch, or a processor's part rolled
-- back, emits its events again under another id, so a consumer keeps the
-- copies whose part committed (its row is here) and drops the others
-- (engine/sb_batch.c). Kept as long as the log, since a rebuild reads the
-- copies again: about 60 bytes per emitting batch and processor.
CREATE TABLE sb.emitted_batches (
  txid       xid8        NOT NULL,
  processor  text        NOT NULL,
  emitted_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (txid, processor)
);
GRANT SELECT, INSERT ON sb.emitted_batches TO switchboard_app;
