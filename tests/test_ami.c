/* The AMI connector (connectors/ami): the parser against one fixture per
 * pitfall of ../shared/AMI.md §1.6 (tests/ami/parse/NAME.ami, options in
 * NAME.opts, what it must give in NAME.expected), each fed whole and cut
 * into pieces of every small size and of random sizes: the same messages
 * must come out. SB_AMI_UPDATE=1 rewrites the expected files (review the
 * diff). */
#include "sb_ami.h"
#include "sb_test.h"
#include "sb_tests.h"
#include "sb_text.h"
#include "sb_util.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *kind_name(sb_ami_kind_t k) {
  switch (k) {
  case SB_AMI_BANNER: return "banner";
  case SB_AMI_EVENT: return "event";
  case SB_AMI_RESPONSE: return "response";
  case SB_AMI_OTHER: return "other";
  case SB_AMI_REFUSED: return "refused";
  }
  return "?";
}

/* Each message as text: "[kind bytes]", then a line a field. */
static int dump_msg(void *ud, const sb_ami_msg_t *m) {
  sb_text_t *t = ud;
  sb_text_add(t, "[%s %zu]\n", kind_name(m->kind), m->bytes);
  for (size_t i = 0; i < m->n; i++) {
    if (m->fields[i].key[0] == '\0')
      sb_text_add(t, "  (bare) %s\n", m->fields[i].value);
    else
      sb_text_add(t, "  %s: %s\n", m->fields[i].key, m->fields[i].value);
  }
  return 0;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap + 1);
  size_t got;
  while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
    n += got;
    if (n == cap) {
      char *b = realloc(buf, 2 * cap + 1);
      if (b == NULL) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = b;
      cap *= 2;
    }
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    *len = n;
  }
  return buf;
}

/* data parsed in pieces of size step (0: random sizes from seed) into
 * *out; 0 or the parser's error. */
static int parse_dump(const sb_ami_parser_opts_t *o, const char *data,
                      size_t len, size_t step, unsigned seed, sb_text_t *out) {
  sb_err_t err = SB_ERR_INIT;
  sb_ami_parser_t *p;
  int rc = sb_ami_parser_new(o, &p, &err);
  if (rc != 0) {
    fprintf(stderr, "parser: %s\n", err.msg);
    return rc;
  }
  for (size_t at = 0; at < len && rc == 0;) {
    size_t n = step ? step : 1 + (size_t)(rand_r(&seed) % 97);
    if (n > len - at)
      n = len - at;
    rc = sb_ami_parser_feed(p, data + at, n, dump_msg, out);
    at += n;
  }
  sb_ami_parse_stats_t st;
  sb_ami_parser_stats(p, &st);
  sb_text_add(out,
              "stats: messages %llu, refused %llu, bare %llu, blank %llu, "
              "decoded %llu, replaced %llu, pending %zu\n",
              (unsigned long long)st.messages, (unsigned long long)st.refused,
              (unsigned long long)st.bare, (unsigned long long)st.blank,
              (unsigned long long)st.decoded, (unsigned long long)st.replaced,
              sb_ami_parser_pending(p));
  sb_ami_parser_free(p);
  return rc;
}

static void read_opts(const char *path, sb_ami_parser_opts_t *o,
                      char *charset, size_t csz) {
  size_t len;
  char *text = read_file(path, &len);
  memset(o, 0, sizeof *o);
  if (text == NULL)
    return;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    if (strncmp(line, "max_bytes=", 10) == 0)
      o->max_bytes = strtoul(line + 10, NULL, 10);
    else if (strncmp(line, "max_fields=", 11) == 0)
      o->max_fields = strtoul(line + 11, NULL, 10);
    else if (strncmp(line, "charset=", 8) == 0) {
      snprintf(charset, csz, "%s", line + 8);
      o->charset = charset;
    }
  }
  free(text);
}

/* got against the expected file at path (SB_AMI_UPDATE=1: written first);
 * 0 when equal, else 1 saying both. */
static int golden_check(const char *path, const sb_text_t *got) {
  size_t elen;
  if (getenv("SB_AMI_UPDATE")) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    fwrite(got->s, 1, got->len, f);
    fclose(f);
  }
  char *expected = read_file(path, &elen);
  int same = expected != NULL && strcmp(expected, got->s) == 0;
  if (!same)
    fprintf(stderr, "got:\n%s\nexpected (%s):\n%s\n", got->s, path,
            expected ? expected : "(missing)");
  free(expected);
  return same ? 0 : 1;
}

/* fn(dir, name) for each NAME.ami of dir; 0 when all returned 0 and there
 * were at least min. */
static int each_fixture(const char *dir, int min,
                        int (*fn)(const char *dir, const char *name)) {
  DIR *d = opendir(dir);
  CHECK(d != NULL);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    size_t l = strlen(e->d_name);
    if (l < 5 || strcmp(e->d_name + l - 4, ".ami") != 0)
      continue;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(l - 4), e->d_name);
    if (fn(dir, name) != 0) {
      fprintf(stderr, "fixture %s/%s\n", dir, name);
      closedir(d);
      return 1;
    }
    n++;
  }
  closedir(d);
  CHECK(n >= min);
  return 0;
}

static int one_fixture(const char *dir, const char *name) {
  char path[1024], charset[64];
  size_t len;
  snprintf(path, sizeof path, "%s/%s.ami", dir, name);
  char *data = read_file(path, &len);
  CHECK(data != NULL);
  sb_ami_parser_opts_t o;
  snprintf(path, sizeof path, "%s/%s.opts", dir, name);
  read_opts(path, &o, charset, sizeof charset);
  sb_text_t whole = {0};
  CHECK_INT(parse_dump(&o, data, len, len ? len : 1, 0, &whole), 0);
  snprintf(path, sizeof path, "%s/%s.expected", dir, name);
  if (golden_check(path, &whole) != 0)
    return 1;
  /* reads split anywhere: every piece size up to 9, then random ones */
  for (size_t step = 0; step <= 9 + 20; step++) {
    sb_text_t cut = {0};
    size_t s = step <= 9 ? step : 0;
    if (step == 0)
      continue;
    CHECK_INT(parse_dump(&o, data, len, s, (unsigned)step, &cut), 0);
    if (strcmp(cut.s, whole.s) != 0) {
      fprintf(stderr, "%s: in pieces of %zu (0: random, seed %zu), got:\n%s\n",
              name, s, step, cut.s);
      return 1;
    }
    sb_text_free(&cut);
  }
  sb_text_free(&whole);
  free(data);
  return 0;
}

int test_ami_parse_fixtures(void) {
  return each_fixture(SB_AMI_FIXTURES "/parse", 10, one_fixture); /* a pitfall each */
}

typedef struct {
  int seen, stop_at;
  char last_event[64];
  sb_ami_kind_t last_kind;
} count_t;

static int count_msg(void *ud, const sb_ami_msg_t *m) {
  count_t *c = ud;
  c->seen++;
  c->last_kind = m->kind;
  const char *ev = sb_ami_get(m, "event");
  snprintf(c->last_event, sizeof c->last_event, "%s", ev ? ev : "");
  return c->seen == c->stop_at ? 7 : 0;
}

#define LIT(s) s, sizeof s - 1

/* Reading a message: repeats, variables, case; stopping from the
 * callback; a reset starts a session again; bad charsets refused. */
int test_ami_parse_api(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_ami_parser_t *p;
  sb_ami_parser_opts_t o = {.charset = "NO-SUCH-CHARSET-42"};
  CHECK_INT(sb_ami_parser_new(&o, &p, &err), SB_ECONFIG);
  CHECK_HAS(err.msg, "NO-SUCH-CHARSET-42");
  CHECK_OK(sb_ami_parser_new(NULL, &p, &err), &err);
  static const char s[] =
      "Asterisk Call Manager/9.0.0\r\n"
      "event: QueueStatusComplete\r\nActionID: sb-2\r\neventlist: COMPLETE\r\n"
      "ListItems: 3\r\n\r\n"
      "Event: VarSet\r\nChanVariable: A=1\r\nChanVariable: AB=2=3\r\n"
      "ChanVariable: A=4\r\nchanvariable: C=\xc3\xa9t\xc3\xa9\r\n\r\n"
      "Event: Hangup\r\n\r\n";
  count_t c = {.stop_at = 2};
  /* the callback's nonzero stops the read: the rest is not parsed */
  CHECK_INT(sb_ami_parser_feed(p, LIT(s), count_msg, &c), 7);
  CHECK_INT(c.seen, 2);
  CHECK_STR(c.last_event, "QueueStatusComplete");
  sb_ami_parser_reset(p);
  c.stop_at = 0;
  c.seen = 0;
  CHECK_INT(sb_ami_parser_feed(p, LIT(s), count_msg, &c), 0);
  CHECK_INT(c.seen, 4);
  CHECK_INT(c.last_kind, SB_AMI_EVENT);
  CHECK_STR(c.last_event, "Hangup");
  sb_ami_parser_free(p);

  /* a message by hand, for the readers */
  sb_ami_field_t f[] = {{"Event", "VarSet"},      {"ChanVariable", "A=1"},
                        {"ChanVariable", "AB=2=3"}, {"ChanVariable", "A=4"},
                        {"chanvariable", "C=\xc3\xa9t\xc3\xa9"},
                        {"EventList", "Complete"}, {"", "bare"}};
  sb_ami_msg_t m = {SB_AMI_EVENT, f, SB_ARRAY_LEN(f), 0};
  char v[16];
  CHECK_STR(sb_ami_var(&m, "ChanVariable", "A", v, sizeof v), "4");
  CHECK_STR(sb_ami_var(&m, "ChanVariable", "AB", v, sizeof v), "2=3");
  CHECK_STR(sb_ami_var(&m, "chanVARIABLE", "C", v, sizeof v),
            "\xc3\xa9t\xc3\xa9");
  /* cut on a character's start, never inside one */
  CHECK_STR(sb_ami_var(&m, "ChanVariable", "C", v, 3), "\xc3\xa9");
  CHECK_STR(sb_ami_var(&m, "ChanVariable", "C", v, 2), "");
  CHECK(sb_ami_var(&m, "ChanVariable", "a", v, sizeof v) == NULL);
  CHECK(sb_ami_var(&m, "DestChanVariable", "A", v, sizeof v) == NULL);
  size_t at = 0;
  int n = 0;
  while (sb_ami_get_next(&m, "CHANVARIABLE", &at) != NULL)
    n++;
  CHECK_INT(n, 4);
  CHECK_INT(sb_ami_is(&m, "eventlist", "complete"), 1);
  CHECK_INT(sb_ami_is(&m, "EventList", "start"), 0);
  CHECK_INT(sb_ami_is(&m, "Response", "Success"), 0);
  CHECK_STR(sb_ami_get(&m, ""), "bare");
  return 0;
}

/* The parser holds at most max_bytes of the peer's whatever it is sent:
 * a flood without a line end, or of lines without an empty one. */
int test_ami_parse_bounded(void) {
  sb_err_t err = SB_ERR_INIT;
  sb_ami_parser_t *p;
  sb_ami_parser_opts_t o = {.max_bytes = 4096, .max_fields = 64};
  CHECK_OK(sb_ami_parser_new(&o, &p, &err), &err);
  count_t c = {0};
  CHECK_INT(sb_ami_parser_feed(p, LIT("Asterisk Call Manager/9.0.0\r\n"),
                               count_msg, &c), 0);
  char chunk[1000];
  memset(chunk, 'a', sizeof chunk);
  for (int i = 0; i < 10000; i++) {
    CHECK_INT(sb_ami_parser_feed(p, chunk, sizeof chunk, count_msg, &c), 0);
    CHECK(sb_ami_parser_pending(p) <= o.max_bytes);
  }
  CHECK_INT(sb_ami_parser_feed(p, LIT("\r\nmore: x\r\n"), count_msg, &c), 0);
  for (int i = 0; i < 10000; i++)
    CHECK_INT(sb_ami_parser_feed(p, LIT("Key: v\r\n"), count_msg, &c), 0);
  CHECK(sb_ami_parser_pending(p) == 0);
  CHECK_INT(c.seen, 1); /* the banner; the flood is one message, unended */
  CHECK_INT(sb_ami_parser_feed(p, LIT("\r\nEvent: Ok\r\n\r\n"), count_msg, &c),
            0);
  CHECK_INT(c.seen, 3);
  CHECK_STR(c.last_event, "Ok");
  sb_ami_parse_stats_t st;
  sb_ami_parser_stats(p, &st);
  CHECK_INT(st.refused, 1);
  CHECK_INT(st.messages, 2);
  sb_ami_parser_free(p);
  return 0;
}

/* ---- the mapping: tests/ami/map/NAME.ami (a transcript; "Event: @sync"
 * starts a resynchronisation's lists, "Event: @synced" with its Timestamp
 * ends them) -> NAME.expected (the CloudEvents, a line each, then the
 * counters). Mapped twice, by two mappers: the same ids. ---- */

typedef struct {
  sb_ami_map_t *m;
  int sync;
  cJSON *out;
} mapctx_t;

static int map_msg(void *ud, const sb_ami_msg_t *msg) {
  mapctx_t *x = ud;
  const char *ev = sb_ami_get(msg, "Event");
  const char *ts = sb_ami_get(msg, "Timestamp");
  int64_t now = 1764000000000000LL; /* events without Timestamp */
  if (ev && strcmp(ev, "@sync") == 0) {
    sb_ami_map_sync_start(x->m);
    x->sync = 1;
    return 0;
  }
  if (ev && strcmp(ev, "@synced") == 0) {
    sb_ami_map_synced(x->m, ts ? (int64_t)(strtod(ts, NULL) * 1e6) : now,
                      x->out);
    x->sync = 0;
    return 0;
  }
  if (msg->kind == SB_AMI_EVENT)
    sb_ami_map_msg(x->m, x->sync, msg, now, x->out);
  return 0;
}

/* NAME.opts: more words of PBX eu1's line (ivr_contexts=..., "{dir}" the
 * fixtures' folder), loaded as sb_ami_pbx_load reads ami.pbx_file. */
static int load_opts(const char *dir, const char *name, sb_ami_pbx_t **pbx,
                     size_t *n) {
  char path[1024], pf[] = "/tmp/sb_ami_pbxXXXXXX", sf[] = "/tmp/sb_ami_secXXXXXX";
  size_t len;
  snprintf(path, sizeof path, "%s/%s.opts", dir, name);
  char *opts = read_file(path, &len);
  *pbx = NULL;
  *n = 0;
  if (opts == NULL)
    return 0;
  int pfd = mkstemp(pf), sfd = mkstemp(sf);
  CHECK(pfd >= 0 && sfd >= 0);
  FILE *f = fdopen(pfd, "w");
  fprintf(f, "name=eu1 host=127.0.0.1 tenant=acme user=sb ");
  for (char *o = opts; *o; o++) {
    if (strncmp(o, "{dir}", 5) == 0) {
      fputs(dir, f);
      o += 4;
    } else if (*o != '\n') {
      fputc(*o, f);
    }
  }
  fputc('\n', f);
  fclose(f);
  FILE *g = fdopen(sfd, "w");
  fprintf(g, "eu1 s3cret\n");
  fclose(g);
  sb_err_t err = SB_ERR_INIT;
  int rc = sb_ami_pbx_load(pf, sf, pbx, n, &err);
  unlink(pf);
  unlink(sf);
  free(opts);
  CHECK_OK(rc, &err);
  return 0;
}

static int map_file(const char *data, size_t len, const sb_ami_pbx_t *pbx,
                    sb_text_t *t) {
  sb_err_t err = SB_ERR_INIT;
  sb_ami_parser_t *p;
  mapctx_t x = {0};
  CHECK_OK(sb_ami_parser_new(NULL, &p, &err), &err);
  CHECK_OK(sb_ami_map_new("eu1", "acme", 0, 0, &x.m, &err), &err);
  if (pbx)
    sb_ami_map_config(x.m, pbx);
  x.out = cJSON_CreateArray();
  CHECK_INT(sb_ami_parser_feed(p, data, len, map_msg, &x), 0);
  for (cJSON *e = x.out->child; e; e = e->next) {
    char *s = cJSON_PrintUnformatted(e);
    sb_text_add(t, "%s\n", s);
    free(s);
  }
  sb_ami_map_stats_t st;
  sb_ami_map_stats(x.m, &st);
  sb_text_add(t, "mapped %llu, unmapped %llu, produced %llu, calls %zu, "
                 "agents %zu;",
              (unsigned long long)st.mapped, (unsigned long long)st.unmapped,
              (unsigned long long)st.produced, st.calls, st.agents);
  for (size_t i = 0; i < st.n_unmapped_names; i++)
    sb_text_add(t, " %s %llu", st.unmapped_names[i].name,
                (unsigned long long)st.unmapped_names[i].count);
  sb_text_add(t, "\nunusable %llu, ring_no_answer %llu, tenant_refused %llu, "
                 "tenant_late %llu, agents_unmapped %llu, ivr_steps %llu, "
                 "transfers %llu, voicemails %llu\n",
              (unsigned long long)st.unusable,
              (unsigned long long)st.ring_no_answer,
              (unsigned long long)st.tenant_refused,
              (unsigned long long)st.tenant_late,
              (unsigned long long)st.agents_unmapped,
              (unsigned long long)st.ivr_steps,
              (unsigned long long)st.transfers,
              (unsigned long long)st.voicemails);
  cJSON_Delete(x.out);
  sb_ami_map_free(x.m);
  sb_ami_parser_free(p);
  return 0;
}

static int one_map_fixture(const char *dir, const char *name) {
  char path[1024];
  size_t len;
  snprintf(path, sizeof path, "%s/%s.ami", dir, name);
  char *data = read_file(path, &len);
  CHECK(data != NULL);
  sb_text_t a = {0}, b = {0};
  sb_ami_pbx_t *pbx;
  size_t npbx;
  CHECK_INT(load_opts(dir, name, &pbx, &npbx), 0);
  CHECK_INT(map_file(data, len, pbx, &a), 0);
  CHECK_INT(map_file(data, len, pbx, &b), 0);
  sb_ami_pbx_free(pbx, npbx);
  CHECK_STR(a.s, b.s); /* deterministic, ids included */
  snprintf(path, sizeof path, "%s/%s.expected", dir, name);
  int rc = golden_check(path, &a);
  free(data);
  sb_text_free(&a);
  sb_text_free(&b);
  return rc;
}

int test_ami_map_golden(void) {
  return each_fixture(SB_AMI_FIXTURES "/map", 4, one_map_fixture);
}
