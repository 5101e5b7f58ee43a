/* What the compliance processor and its global table share: the keys and
 * the records of the latest consent per (tenant, purpose, channel,
 * subject). Internal to processors/compliance/. */
#ifndef SB_CONSENT_INT_H
#define SB_CONSENT_INT_H

#include "sb_processor.h"

#include <stddef.h>
#include <stdint.h>

#define CONSENT_ALL "*" /* the channel (or purpose) of "every one" */

/* The latest consent event of a key. */
typedef struct consent_rec_s {
  char status;      /* 'g' given, 'w' withdrawn */
  int64_t at;       /* its occurred_at */
  int64_t expires;  /* expires_at; 0: none */
  char event_id[27];
} consent_rec_t;

/* "C|tenant|purpose|channel|subject" (subject last: it may hold '|'):
 * 0, or SB_EINVAL when it does not fit in n bytes. */
int consent__key(char *out, size_t n, const char *tenant, const char *purpose,
                 const char *channel, const char *subject);
/* A record as text ("g <at> <expires> <event id>") into out (at least 80
 * bytes): its length. */
size_t consent__format(const consent_rec_t *r, char *out, size_t n);
/* 0 and *r from a stored value, or -1 when it is not one. */
int consent__parse(const void *val, size_t len, consent_rec_t *r);
/* 1 when an event at `at` with id `id` comes after r (occurred_at, then
 * event id: a repeated event is not newer). */
int consent__newer(const consent_rec_t *r, int64_t at, const char *id);

#endif
