/* What every webhook fuzz target checks of a parsed batch (sb_webhook.h):
 * bounded, each item complete for its kind, its status a MessageStatus
 * symbol, its strings NUL-terminated inside the batch's arena. A broken
 * invariant prints which and aborts. */
#ifndef FUZZ_WEBHOOK_H
#define FUZZ_WEBHOOK_H

#include "sb_webhook.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WHK_FAIL(what)                                                        \
  do {                                                                        \
    fprintf(stderr, "fuzz_webhook: %s (item %zu)\n", what, i);                \
    abort();                                                                  \
  } while (0)

static inline int whk_in_arena(const sb_whk_batch_t *b, const char *s) {
  return s == NULL ||
         (s >= b->arena && s < b->arena + b->used &&
          memchr(s, '\0', (size_t)(b->arena + b->used - s)) != NULL);
}

static inline void whk_check_batch(const sb_whk_batch_t *b) {
  static const char *const statuses[] = {"queued", "submitted", "sent",
                                         "rejected", "failed", "undelivered",
                                         "delivered", "read"};
  size_t i = 0;
  if (b->n > SB_WHK_MAX_ITEMS || b->used > b->cap)
    WHK_FAIL("batch out of bounds");
  for (i = 0; i < b->n; i++) {
    const sb_whk_item_t *it = &b->items[i];
    const char *strs[] = {it->event_key,  it->message_id, it->provider_message_id,
                          it->raw_status, it->error_code, it->error_message,
                          it->from,       it->to,         it->body,
                          it->address};
    for (size_t k = 0; k < sizeof strs / sizeof *strs; k++)
      if (!whk_in_arena(b, strs[k]))
        WHK_FAIL("a string outside the arena");
    if (it->event_key == NULL || it->event_key[0] == '\0')
      WHK_FAIL("no event key");
    if (it->channel == NULL)
      WHK_FAIL("no channel");
    if (it->nmedia < 0 || it->nmedia > SB_WHK_MEDIA_MAX)
      WHK_FAIL("media out of bounds");
    switch (it->kind) {
    case SB_WHK_STATUS: {
      int ok = 0;
      for (size_t k = 0; it->status && k < sizeof statuses / sizeof *statuses;
           k++)
        ok |= strcmp(it->status, statuses[k]) == 0;
      if (!ok || it->raw_status == NULL)
        WHK_FAIL("a status that is no MessageStatus");
      if (it->message_id == NULL && it->provider_message_id == NULL)
        WHK_FAIL("a status of no message");
      break;
    }
    case SB_WHK_INBOUND:
      if (it->from == NULL || it->provider_message_id == NULL)
        WHK_FAIL("an inbound message without sender or id");
      if ((it->keyword != NULL) != (sb_whk_stop_keyword(it->body) != NULL))
        WHK_FAIL("keyword and body disagree");
      break;
    case SB_WHK_OPT_OUT:
      if (it->method == NULL || it->address == NULL)
        WHK_FAIL("an opt-out without method or address");
      break;
    default:
      WHK_FAIL("unknown kind");
    }
  }
}

#endif
