/* Event generator tests: the same seed gives the same bytes; every event
 * of every mix passes the codec; the simulation looks like a contact
 * centre (every type appears, calls end after they start, a plausible
 * abandon rate, agents' states chain); memory does not grow with the
 * number of events. */
#include "sb_codec.h"
#include "sb_gen.h"
#include "sb_schema.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ---------------------------------------------------------- */

static uint64_t fnv1a(uint64_t h, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)s[i]) * 0x100000001b3ULL;
  return h;
}

/* The hash of the first n events of a generator for o; 0 on failure. */
static uint64_t stream_hash(const sb_gen_opts_t *o, long n) {
  sb_err_t err = SB_ERR_INIT;
  sb_gen_t *g = NULL;
  static char buf[SB_GEN_MAX_EVENT];
  uint64_t h = 0xcbf29ce484222325ULL;
  size_t len;
  if (sb_gen_new(o, &g, &err) != 0) {
    fprintf(stderr, "sb_gen_new: %s\n", err.msg);
    return 0;
  }
  for (long i = 0; i < n; i++) {
    if (sb_gen_next(g, buf, sizeof buf, &len, NULL) != 0) {
      sb_gen_free(g);
      return 0;
    }
    h = fnv1a(h, buf, len);
    h = fnv1a(h, "\n", 1);
  }
  sb_gen_free(g);
  return h;
}

static int type_index(const char *type) {
  for (int i = 0; sb_gen_types[i]; i++)
    if (strcmp(sb_gen_types[i], type) == 0)
      return i;
  return -1;
}

/* A string attribute or data field of an event, copied into out ("" when
 * absent). The generator writes no spaces, so the text form is known. */
static const char *field(const char *ev, const char *key, char *out,
                         size_t outsz) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":\"", key);
  const char *p = strstr(ev, pat);
  out[0] = '\0';
  if (p == NULL)
    return out;
  p += strlen(pat);
  size_t n = 0;
  while (p[n] && p[n] != '"' && n + 1 < outsz)
    n++;
  memcpy(out, p, n);
  out[n] = '\0';
  return out;
}

/* Converts n events of o through the codec; fails on the first rejection,
 * on time going backwards, or on a key that is not tenant:subject. */
static int check_valid(const sb_gen_opts_t *o, long n) {
  sb_err_t err = SB_ERR_INIT;
  sb_schemas_t *schemas = NULL;
  sb_codec_t *codec = NULL;
  sb_gen_t *g = NULL;
  static char buf[SB_GEN_MAX_EVENT];
  int64_t last = 0;
  int rc = 1;
  CHECK_OK(sb_schemas_load(&schemas, &err), &err);
  CHECK_OK(sb_codec_new(schemas, &codec, &err), &err);
  CHECK_OK(sb_gen_new(o, &g, &err), &err);
  for (long i = 0; i < n; i++) {
    size_t len;
    const char *type;
    cJSON *j = NULL;
    sb_record_t r;
    char tenant[80], subject[160], key[256];
    sb_err_t why = SB_ERR_INIT;
    if (sb_gen_next(g, buf, sizeof buf, &len, &type) != 0) {
      fprintf(stderr, "event %ld: sb_gen_next failed\n", i + 1);
      goto out;
    }
    if (sb_json_parse(buf, len, &j, &why) != 0 ||
        sb_codec_from_ce(codec, j, 0, &r, &why) != 0) {
      fprintf(stderr, "mix %s, %d tenants, seed %llu, event %ld (%s): %s\n%s\n",
              o->mix ? o->mix : "default", o->tenants,
              (unsigned long long)o->seed, i + 1, type, why.msg, buf);
      cJSON_Delete(j);
      goto out;
    }
    cJSON_Delete(j);
    snprintf(key, sizeof key, "%s:%s",
             field(buf, "tenantid", tenant, sizeof tenant),
             field(buf, "subject", subject, sizeof subject));
    int bad_key =
        strcmp(r.key, key) != 0 || strcmp(sb_evtype_name(r.type), type) != 0;
    int64_t t = r.occurred_at;
    sb_record_clear(&r);
    if (bad_key || t < last) {
      fprintf(stderr, "event %ld: %s\n", i + 1,
              bad_key ? "key or type differs from the JSON"
                      : "time went backwards");
      goto out;
    }
    last = t;
  }
  rc = 0;
out:
  sb_gen_free(g);
  sb_codec_free(codec);
  sb_schemas_free(schemas);
  return rc;
}

/* ---- tests ------------------------------------------------------------ */

int test_gen_reproducible(void) {
  sb_gen_opts_t a = {.seed = 42, .tenants = 3, .mix = "default"};
  sb_gen_opts_t b = a;
  uint64_t ha = stream_hash(&a, 50000), hb = stream_hash(&b, 50000);
  CHECK(ha != 0);
  CHECK(ha == hb);
  b.seed = 43;
  CHECK(stream_hash(&b, 50000) != ha);
  b = a;
  b.tenants = 4;
  CHECK(stream_hash(&b, 50000) != ha);
  b = a;
  b.mix = "calls";
  CHECK(stream_hash(&b, 50000) != ha);
  /* NULL mix and 0 tenants are the defaults */
  sb_gen_opts_t d = {.seed = 7, .tenants = 1, .mix = "default"};
  sb_gen_opts_t d0 = {.seed = 7};
  CHECK(stream_hash(&d, 20000) == stream_hash(&d0, 20000));

  /* the first event starts at the default start, or at start_us */
  sb_err_t err = SB_ERR_INIT;
  sb_gen_t *g = NULL;
  char buf[SB_GEN_MAX_EVENT], small[16], t[40];
  size_t len = 0;
  const char *type = NULL;
  CHECK_OK(sb_gen_new(&d0, &g, &err), &err);
  CHECK_OK(sb_gen_next(g, buf, sizeof buf, &len, &type), &err);
  CHECK_STR(type, "campaign.created");
  CHECK_HAS(field(buf, "time", t, sizeof t), "2026-01-05T08:00:0");
  sb_gen_free(g);
  d0.start_us = 1800000000000000LL; /* 2027-01-15T08:00:00Z */
  CHECK_OK(sb_gen_new(&d0, &g, &err), &err);
  /* a buffer too small keeps the event for the next call */
  CHECK_INT(sb_gen_next(g, small, sizeof small, &len, &type), SB_EINVAL);
  size_t need = len;
  CHECK(need > sizeof small);
  CHECK_OK(sb_gen_next(g, buf, sizeof buf, &len, &type), &err);
  CHECK_INT(len, need);
  CHECK_INT(strlen(buf), len);
  CHECK_HAS(field(buf, "time", t, sizeof t), "2027-01-15T08:00:0");
  sb_gen_free(g);
  return 0;
}

int test_gen_valid_default(void) {
  sb_gen_opts_t o = {.seed = 1, .tenants = 1};
  CHECK(check_valid(&o, 60000) == 0);
  o = (sb_gen_opts_t){.seed = 2, .tenants = 7, .mix = "default"};
  CHECK(check_valid(&o, 60000) == 0);
  return 0;
}

int test_gen_valid_mixes(void) {
  static const struct {
    const char *mix;
    int tenants;
    long events;
  } runs[] = {
      {"calls", 2, 25000},
      {"leads", 5, 25000},
      {"messages", 3, 25000},
      {"inbound=1,spend=1,campaign=1", 1, 10000},
      {"lead=3,lead_update=5,consent=5,message=2", 2, 10000},
      /* most of these are set-up and logins of 1000 tenants' agents */
      {"default", 1000, 30000},
  };
  for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
    sb_gen_opts_t o = {
        .seed = 100 + i, .tenants = runs[i].tenants, .mix = runs[i].mix};
    CHECK(check_valid(&o, runs[i].events) == 0);
  }
  return 0;
}

typedef struct {
  char agent[64];
  char state[64];
} agent_state_t;

int test_gen_distribution(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_gen_opts_t o = {.seed = 5, .tenants = 4};
  sb_gen_t *g = NULL;
  static char buf[SB_GEN_MAX_EVENT];
  static agent_state_t agents[4096];
  long counts[64] = {0}, inbound = 0, sources = 0, web_form = 0, paid = 0;
  long chain_breaks = 0;
  size_t nagents = 0;
  CHECK_OK(sb_gen_new(&o, &g, &err), &err);
  for (long i = 0; i < 200000; i++) {
    size_t len;
    const char *type;
    char v[64], w[64];
    CHECK_OK(sb_gen_next(g, buf, sizeof buf, &len, &type), &err);
    int k = type_index(type);
    CHECK(k >= 0);
    counts[k]++;
    if (strcmp(type, "call.started") == 0) {
      inbound += strcmp(field(buf, "direction", v, sizeof v), "inbound") == 0;
    } else if (strcmp(type, "lead.created") == 0) {
      field(buf, "lead_source", v, sizeof v);
      sources++;
      web_form += strcmp(v, "web_form") == 0;
      paid += strcmp(v, "google_ads") == 0 || strcmp(v, "facebook") == 0;
    } else if (strcmp(type, "agent.state_changed") == 0 ||
               strcmp(type, "agent.logged_out") == 0) {
      /* each state change starts from the agent's last state */
      field(buf, "subject", w, sizeof w);
      size_t a = 0;
      while (a < nagents && strcmp(agents[a].agent, w) != 0)
        a++;
      if (a == nagents) {
        CHECK(nagents < sizeof agents / sizeof agents[0]);
        snprintf(agents[nagents].agent, sizeof agents[0].agent, "%s", w);
        snprintf(agents[nagents++].state, sizeof agents[0].state, "offline");
      }
      if (strcmp(type, "agent.logged_out") == 0) {
        snprintf(agents[a].state, sizeof agents[a].state, "offline");
        continue;
      }
      chain_breaks += strcmp(field(buf, "previous_state", v, sizeof v),
                             agents[a].state) != 0;
      snprintf(agents[a].state, sizeof agents[a].state, "%s",
               field(buf, "state", v, sizeof v));
    }
  }
  sb_gen_stats_t st;
  sb_gen_stats(g, &st);
  sb_gen_free(g);
#define COUNT(t) counts[type_index(t)]
  for (int i = 0; sb_gen_types[i]; i++) {
    if (counts[i] == 0)
      fprintf(stderr, "no %s in 200000 events\n", sb_gen_types[i]);
    CHECK(counts[i] > 0);
  }
  CHECK(COUNT("call.ended") <= COUNT("call.started"));
  CHECK(COUNT("call.dispositioned") <= COUNT("call.ended"));
  CHECK(COUNT("call.connected") <= COUNT("call.started"));
  CHECK(COUNT("call.abandoned") <= inbound);
  double abandon = (double)COUNT("call.abandoned") / (double)inbound;
  fprintf(stderr, "abandon rate %.1f%% of %ld inbound calls\n", 100 * abandon,
          inbound);
  CHECK(abandon >= 0.03 && abandon <= 0.12);
  /* both directions, inbound the larger part in the default mix */
  CHECK(inbound > COUNT("call.started") / 2);
  CHECK(inbound < COUNT("call.started"));
  /* web forms are the commonest lead source; paid channels are many */
  CHECK(web_form > sources / 10 && web_form < sources / 2);
  CHECK(paid > sources / 10);
  CHECK(COUNT("message.status_updated") >= COUNT("message.requested"));
  CHECK(COUNT("agent.logged_out") <= COUNT("agent.logged_in"));
  CHECK_INT(chain_breaks, 0);
  CHECK(st.flows_peak < st.flows_cap);
  return 0;
}

int test_gen_bounded_memory(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_gen_opts_t o = {.seed = 9, .tenants = 20, .mix = "messages"};
  sb_gen_t *g = NULL;
  static char buf[SB_GEN_MAX_EVENT];
  sb_gen_stats_t st0, st1, st2;
  size_t len;
  CHECK_OK(sb_gen_new(&o, &g, &err), &err);
  sb_gen_stats(g, &st0);
  CHECK(st0.mem_bytes > 0);
  for (long i = 0; i < 100000; i++)
    CHECK_OK(sb_gen_next(g, buf, sizeof buf, &len, NULL), &err);
  sb_gen_stats(g, &st1);
  for (long i = 0; i < 900000; i++)
    CHECK_OK(sb_gen_next(g, buf, sizeof buf, &len, NULL), &err);
  sb_gen_stats(g, &st2);
  sb_gen_free(g);
  CHECK_INT(st2.events, 1000000);
  /* the tables are sized once; entities recycle through them */
  CHECK_INT(st1.mem_bytes, st0.mem_bytes);
  CHECK_INT(st2.mem_bytes, st0.mem_bytes);
  CHECK(st2.flows_in_use <= st2.flows_cap);
  CHECK(st2.flows_peak < st2.flows_cap);
  /* work in progress stays about the same while the ids keep counting */
  CHECK(st2.flows_in_use < 4 * (st1.flows_in_use + 16));
  CHECK(st2.now_us > st1.now_us);
  return 0;
}

int test_gen_bad_options(void) {
  static const struct {
    sb_gen_opts_t o;
    const char *says;
  } bad[] = {
      {{.tenants = -1}, "--tenants must be 1 to 1000"},
      {{.tenants = SB_GEN_MAX_TENANTS + 1}, "--tenants must be 1 to 1000"},
      {{.mix = "nope"}, "unknown mix 'nope'"},
      {{.mix = "inbound=1,bogus=2"}, "unknown kind 'bogus'"},
      {{.mix = "inbound=-1"}, "a weight is a number from 0 to 1000"},
      {{.mix = "inbound="}, "inbound needs a weight"},
      {{.mix = "inbound"}, "unknown mix 'inbound'"},
      {{.mix = "inbound=0,lead=0"}, "give some kind a weight above 0"},
      {{.mix = "message=1"}, "give lead a weight too"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    sb_err_t err = SB_ERR_INIT;
    sb_gen_t *g = (sb_gen_t *)&err; /* must be reset to NULL */
    CHECK_INT(sb_gen_new(&bad[i].o, &g, &err), SB_EUSAGE);
    CHECK(g == NULL);
    CHECK_HAS(err.msg, bad[i].says);
  }
  sb_gen_free(NULL);
  return 0;
}
