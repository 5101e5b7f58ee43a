/* Fuzz target: the AMI parser (connectors/ami/sb_ami_parse.c). The first
 * byte picks the options (bit 0: a charset, CP1251; bit 1: small bounds,
 * 256 bytes and 8 lines a message) and the piece sizes (the other bits
 * seed them); the rest is what a PBX sends. Checks: every key and value
 * is UTF-8 without control characters (tab aside), NUL-terminated; a
 * delivered message is within its bounds; the parser never holds more
 * than max_bytes; the messages are the same, in the same order, whether
 * the bytes come whole or in pieces. The whole read's events also go
 * through the mapping (sb_ami_map_msg, every mapping key set: IVR contexts,
 * an outbound context, a tenant variable with one tenant allowed, agent
 * ids; a resynchronisation begun at the first FullyBooted and ended at
 * the end): every event it makes is of the PBX's tenant or the allowed
 * one, never of another a call names. */
#include "sb_ami.h"

#include <cjson/cJSON.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FAIL(what)                                                            \
  do {                                                                        \
    fprintf(stderr, "fuzz_ami: %s\n", what);                                  \
    abort();                                                                  \
  } while (0)

typedef struct {
  uint64_t hash; /* FNV-1a of every message as delivered */
  size_t n, max_bytes, max_fields;
  sb_ami_map_t *map; /* the whole read's: its events mapped */
  cJSON *out;
} sum_t;

static void mix(sum_t *s, const void *p, size_t n) {
  const unsigned char *u = p;
  for (size_t i = 0; i < n; i++)
    s->hash = (s->hash ^ u[i]) * 1099511628211ull;
}

static void check_text(const char *t) {
  const unsigned char *u = (const unsigned char *)t;
  size_t n = strlen(t);
  for (size_t i = 0; i < n;) {
    unsigned c = u[i];
    size_t k = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2
                        : c >= 0xe0 && c <= 0xef ? 3
                        : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (k == 0 || i + k > n)
      FAIL("not UTF-8");
    if (k == 1 && c < 0x20 && c != '\t')
      FAIL("a control character");
    for (size_t j = 1; j < k; j++)
      if ((u[i + j] & 0xc0) != 0x80)
        FAIL("not UTF-8");
    if ((c == 0xe0 && u[i + 1] < 0xa0) || (c == 0xed && u[i + 1] >= 0xa0) ||
        (c == 0xf0 && u[i + 1] < 0x90) || (c == 0xf4 && u[i + 1] >= 0x90))
      FAIL("an overlong form, a surrogate or past U+10FFFF");
    i += k;
  }
}

static int on_msg(void *ud, const sb_ami_msg_t *m) {
  sum_t *s = ud;
  s->n++;
  if (m->kind < SB_AMI_BANNER || m->kind > SB_AMI_REFUSED)
    FAIL("an unknown kind");
  if (m->kind != SB_AMI_REFUSED &&
      (m->bytes > s->max_bytes || m->n > s->max_fields))
    FAIL("a message over its bounds delivered");
  if (m->n == 0)
    FAIL("an empty message delivered");
  mix(s, &m->kind, sizeof m->kind);
  mix(s, &m->bytes, sizeof m->bytes);
  for (size_t i = 0; i < m->n; i++) {
    check_text(m->fields[i].key);
    check_text(m->fields[i].value);
    mix(s, m->fields[i].key, strlen(m->fields[i].key) + 1);
    mix(s, m->fields[i].value, strlen(m->fields[i].value) + 1);
  }
  if ((m->kind == SB_AMI_EVENT) != (sb_ami_get(m, "Event") != NULL))
    FAIL("an event without Event, or Event in another kind");
  if (s->map && m->kind == SB_AMI_EVENT) {
    int sync = sb_ami_is(m, "Event", "FullyBooted");
    if (sync)
      sb_ami_map_sync_start(s->map);
    sb_ami_map_msg(s->map, sync || sb_ami_is(m, "Event", "CoreShowChannel"),
                   m, 1764000000000000LL, s->out);
  }
  return 0;
}

/* The mapper's events: the tenants a PBX may write, and nothing else. */
static void check_events(const cJSON *out) {
  for (const cJSON *e = out->child; e; e = e->next) {
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "tenantid");
    if (!cJSON_IsString(t) || (strcmp(t->valuestring, "acme") != 0 &&
                               strcmp(t->valuestring, "globex") != 0))
      FAIL("an event of a tenant the PBX may not write");
    char *text = cJSON_PrintUnformatted(e);
    if (text == NULL)
      FAIL("an event cJSON cannot print");
    check_text(text);
    free(text);
  }
}

static sum_t run(const sb_ami_parser_opts_t *o, const char *d, size_t n,
                 unsigned seed) {
  sb_err_t err = SB_ERR_INIT;
  sb_ami_parser_t *p;
  sum_t s = {1469598103934665603ull, 0, o->max_bytes ? o->max_bytes : 262144,
             o->max_fields ? o->max_fields : 4096, NULL, NULL};
  if (sb_ami_parser_new(o, &p, &err) != 0)
    FAIL("the parser cannot be made");
  static sb_ami_agent_t agents[] = {{"1001@default", "u-alice"},
                                    {"PJSIP/agent1", "u-alice"}};
  sb_ami_pbx_t pbx = {.name = "eu1", .tenant = "acme",
                      .ivr_contexts = "ivr-main,ivr-billing",
                      .outbound_contexts = "dialer",
                      .tenant_var = "SB_TENANT", .tenants = "globex",
                      .agents = agents, .nagents = 2};
  if (seed == 0) {
    if (sb_ami_map_new("eu1", "acme", 64, 64, &s.map, &err) != 0 ||
        (s.out = cJSON_CreateArray()) == NULL)
      FAIL("the mapper cannot be made");
    sb_ami_map_config(s.map, &pbx);
  }
  for (size_t at = 0; at < n;) {
    size_t k = seed ? 1 + (size_t)(rand_r(&seed) % 64) : n;
    if (k > n - at)
      k = n - at;
    if (sb_ami_parser_feed(p, d + at, k, on_msg, &s) != 0)
      FAIL("a feed failed");
    if (sb_ami_parser_pending(p) > s.max_bytes)
      FAIL("more than max_bytes held");
    at += k;
  }
  sb_ami_parser_free(p);
  if (s.map) {
    sb_ami_map_synced(s.map, 1764000001000000LL, s.out);
    check_events(s.out);
    cJSON_Delete(s.out);
    sb_ami_map_free(s.map);
    s.map = NULL;
  }
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  sb_ami_parser_opts_t o = {0};
  if (data[0] & 1)
    o.charset = "CP1251";
  if (data[0] & 2)
    o.max_bytes = 256, o.max_fields = 8;
  const char *d = (const char *)data + 1;
  sum_t whole = run(&o, d, size - 1, 0);
  sum_t cut = run(&o, d, size - 1, 1u + (data[0] >> 2));
  if (whole.hash != cut.hash || whole.n != cut.n)
    FAIL("different messages when read in pieces");
  return 0;
}
