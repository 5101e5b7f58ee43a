-- Which incarnation of the Kafka log a stored offset belongs to.
--
-- An offset means something only in the log it was read from: after a
-- topic is deleted and created again, or the embedded broker starts a new
-- log, offset 500 is another record, and seeking to it would skip every new
-- record before it. Workers write the log's epoch beside each offset
-- ("journal:<hex>" for the embedded broker's journal, "kafka:<cluster id>"
-- for real brokers) and, on assignment, read a partition from its start
-- when the stored epoch is another, or the stored offset is past the
-- partition's end. NULL: written before this migration (only the end is
-- checked).
ALTER TABLE sb.consumer_offsets ADD COLUMN log_epoch text;

COMMENT ON COLUMN sb.consumer_offsets.log_epoch IS
  'The log incarnation next_offset belongs to (journal:<epoch> or kafka:<cluster id>); NULL before 0003.';
