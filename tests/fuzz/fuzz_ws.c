/* Fuzz target: bytes from a WebSocket client (RFC 6455 frames: masking,
 * fragmentation, control frames, lengths) through wslay and the hub's
 * command handling (subscribe JSON, filters). Byte 0 picks the client's
 * role, byte 1 where the input is split into two reads. */
#include "sb_hub.h"

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  return sb_hub_feed(data, size);
}
