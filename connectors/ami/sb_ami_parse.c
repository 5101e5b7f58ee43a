/* The AMI framing (sb_ami.h): bytes of a manager session -> messages.
 *
 * A message's complete lines are kept in buf, each without its line end
 * and NUL-terminated, the line being read after them; lines[] says where
 * each starts. At the empty line that ends the message its lines are cut
 * into keys and values, decoded into out, and handed to the callback. A
 * message past a bound is dropped as its bytes come (discarding) until its
 * end, so the parser never holds more than max_bytes of the peer's. */
#define _GNU_SOURCE /* memmem */
#include "sb_ami_int.h"

#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_MAX_BYTES (256 * 1024)
#define DEFAULT_MAX_FIELDS 4096
#define HEAD_MAX 96 /* bytes of a refused message's first line kept */
#define END_COMMAND "--END COMMAND--"

typedef struct {
  size_t off, len;
  int output; /* a line of a legacy Command answer's text */
} line_t;

struct sb_ami_parser_s {
  size_t max_bytes, max_fields;
  iconv_t cd; /* (iconv_t)-1 without a charset */
  int banner_next;
  /* the message being read */
  char *buf;
  size_t len, cap, part; /* part: where the line being read starts */
  line_t *lines;
  size_t nlines, lines_cap;
  size_t bytes; /* as sent, line ends included */
  int follows, follows_done; /* a legacy Command answer; its text ended */
  int discarding;            /* over a bound: dropped to its end */
  size_t dline; /* discarding: bytes of the line being read */
  int dcr;      /* discarding: its last byte was '\r' */
  char head[HEAD_MAX + 1];
  /* what a delivered message is made of */
  char *out;
  size_t out_len, out_cap;
  sb_ami_field_t *fields;
  size_t *offs; /* 2 a field: its key's and value's offsets in out */
  size_t fields_cap;
  sb_ami_parse_stats_t st;
};

int sb_ami_parser_new(const sb_ami_parser_opts_t *o, sb_ami_parser_t **out,
                      sb_err_t *err) {
  *out = NULL;
  sb_ami_parser_t *p = calloc(1, sizeof *p);
  if (p == NULL)
    return sb_err_set(err, SB_ENOMEM, "out of memory");
  p->max_bytes = o && o->max_bytes ? o->max_bytes : DEFAULT_MAX_BYTES;
  p->max_fields = o && o->max_fields ? o->max_fields : DEFAULT_MAX_FIELDS;
  p->cd = (iconv_t)-1;
  p->banner_next = 1;
  if (o && o->charset && *o->charset) {
    p->cd = iconv_open("UTF-8", o->charset);
    if (p->cd == (iconv_t)-1) {
      free(p);
      return sb_err_set(err, SB_ECONFIG,
                        "charset '%.64s': not known to iconv (iconv -l lists "
                        "the names)",
                        o->charset);
    }
  }
  *out = p;
  return 0;
}

void sb_ami_parser_free(sb_ami_parser_t *p) {
  if (p == NULL)
    return;
  if (p->cd != (iconv_t)-1)
    iconv_close(p->cd);
  free(p->buf);
  free(p->lines);
  free(p->out);
  free(p->fields);
  free(p->offs);
  free(p);
}

static void msg_reset(sb_ami_parser_t *p) {
  p->len = p->part = p->nlines = p->bytes = 0;
  p->follows = p->follows_done = p->discarding = 0;
  p->dline = 0;
  p->dcr = 0;
  p->head[0] = '\0';
}

void sb_ami_parser_reset(sb_ami_parser_t *p) {
  msg_reset(p);
  p->banner_next = 1;
}

size_t sb_ami_parser_pending(const sb_ami_parser_t *p) { return p->len; }

void sb_ami_parser_stats(const sb_ami_parser_t *p, sb_ami_parse_stats_t *out) {
  *out = p->st;
}

/* ---- decoding values ------------------------------------------------------*/

/* The length of the valid UTF-8 sequence at s (n bytes left), 0 when
 * invalid (overlong, surrogate, past U+10FFFF, cut short). */
static size_t utf8_seq(const unsigned char *s, size_t n) {
  unsigned c = s[0];
  size_t len;
  unsigned min;
  if (c < 0x80)
    return 1;
  if (c >= 0xc2 && c <= 0xdf)
    len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef)
    len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4)
    len = 4, min = 0x10000;
  else
    return 0;
  if (n < len)
    return 0;
  unsigned cp = c & (0xff >> (len + 1));
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    cp = cp << 6 | (s[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return len;
}

static int is_control(unsigned char c) { return c < 0x20 && c != '\t'; }

/* 1 when s is UTF-8 without control characters (tab aside). */
static int clean(const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(u + i, n - i);
    if (k == 0 || (k == 1 && is_control(u[i])))
      return 0;
    i += k;
  }
  return 1;
}

static int out_reserve(sb_ami_parser_t *p, size_t more) {
  if (p->out_cap - p->out_len >= more)
    return 0;
  size_t cap = p->out_cap ? p->out_cap : 4096;
  while (cap - p->out_len < more)
    cap *= 2;
  char *o = realloc(p->out, cap);
  if (o == NULL)
    return -1;
  p->out = o;
  p->out_cap = cap;
  return 0;
}

/* s copied into out with each invalid byte and control character as
 * U+FFFD (at most 3 bytes a byte); 1 when something was replaced. */
static int put_repaired(sb_ami_parser_t *p, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  char *o = p->out + p->out_len;
  int replaced = 0;
  for (size_t i = 0; i < n;) {
    size_t k = utf8_seq(u + i, n - i);
    if (k == 0 || (k == 1 && is_control(u[i]))) {
      memcpy(o, "\xef\xbf\xbd", 3);
      o += 3;
      i++;
      replaced = 1;
      continue;
    }
    memcpy(o, s + i, k);
    o += k;
    i += k;
  }
  p->out_len = (size_t)(o - p->out);
  return replaced;
}

/* s (n bytes) as UTF-8 into out, NUL-terminated; its offset in *at. */
static int put_text(sb_ami_parser_t *p, const char *s, size_t n, size_t *at) {
  /* iconv yields at most 4 bytes a byte of the charsets it reads into
   * UTF-8; the repair 3 */
  if (out_reserve(p, 4 * n + 1) != 0)
    return -1;
  *at = p->out_len;
  if (clean(s, n)) {
    memcpy(p->out + p->out_len, s, n);
    p->out_len += n;
  } else {
    int done = 0;
    if (p->cd != (iconv_t)-1) {
      char *in = (char *)s, *o = p->out + p->out_len;
      size_t inleft = n, outleft = 4 * n;
      iconv(p->cd, NULL, NULL, NULL, NULL);
      if (iconv(p->cd, &in, &inleft, &o, &outleft) != (size_t)-1 &&
          iconv(p->cd, NULL, NULL, &o, &outleft) != (size_t)-1) {
        size_t got = (size_t)(o - (p->out + p->out_len));
        /* the charset's own control characters are garbage as well */
        if (clean(p->out + p->out_len, got)) {
          p->out_len += got;
          p->st.decoded++;
          done = 1;
        }
      }
    }
    if (!done && put_repaired(p, s, n))
      p->st.replaced++;
  }
  p->out[p->out_len++] = '\0';
  return 0;
}

/* ---- lines and messages ---------------------------------------------------*/

/* The key of a line: the bytes before its first ':' when they are 1 to
 * SB_AMI_KEY_MAX visible ASCII characters; *klen 0 otherwise (a bare
 * line). */
static size_t key_len(const char *s, size_t n) {
  const char *c = memchr(s, ':', n);
  if (c == NULL || c == s || (size_t)(c - s) > SB_AMI_KEY_MAX)
    return 0;
  for (const char *q = s; q < c; q++)
    if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
      return 0;
  return (size_t)(c - s);
}

static int key_is(const char *s, size_t n, const char *key) {
  size_t k = key_len(s, n), kl = strlen(key);
  return k == kl && strncasecmp(s, key, kl) == 0;
}

/* The value of a "Key: value" line (one space after the colon taken). */
static const char *value_of(const char *s, size_t n, size_t k, size_t *vlen) {
  const char *v = s + k + 1;
  if (v < s + n && *v == ' ')
    v++;
  *vlen = (size_t)(s + n - v);
  return v;
}

static sb_ami_kind_t kind_of(const sb_ami_field_t *f, size_t n) {
  int response = 0;
  for (size_t i = 0; i < n; i++) {
    if (strcasecmp(f[i].key, "Event") == 0)
      return SB_AMI_EVENT;
    response |= strcasecmp(f[i].key, "Response") == 0;
  }
  return response ? SB_AMI_RESPONSE : SB_AMI_OTHER;
}

/* Hands over a message of one field {"", text} (banner, refused). */
static int deliver_line(sb_ami_parser_t *p, sb_ami_kind_t kind,
                        const char *text, size_t n, size_t bytes,
                        sb_ami_msg_fn fn, void *ud) {
  size_t k, v;
  p->out_len = 0;
  if (put_text(p, "", 0, &k) != 0 || put_text(p, text, n, &v) != 0)
    return SB_ENOMEM;
  sb_ami_field_t f = {p->out + k, p->out + v};
  sb_ami_msg_t m = {kind, &f, 1, bytes};
  if (kind == SB_AMI_REFUSED)
    p->st.refused++;
  else
    p->st.messages++;
  return fn(ud, &m);
}

/* The message's lines as fields, to fn. */
static int deliver(sb_ami_parser_t *p, sb_ami_msg_fn fn, void *ud) {
  if (p->fields_cap < p->nlines) {
    sb_ami_field_t *f = realloc(p->fields, p->nlines * sizeof *f);
    if (f != NULL)
      p->fields = f;
    size_t *o = realloc(p->offs, 2 * p->nlines * sizeof *o);
    if (o != NULL)
      p->offs = o;
    if (f == NULL || o == NULL)
      return SB_ENOMEM;
    p->fields_cap = p->nlines;
  }
  /* offsets first: out may move while it grows */
  size_t *offs = p->offs;
  p->out_len = 0;
  for (size_t i = 0; i < p->nlines; i++) {
    const line_t *l = &p->lines[i];
    const char *s = p->buf + l->off;
    size_t k = l->output ? 0 : key_len(s, l->len), vlen;
    const char *v = s;
    vlen = l->len;
    if (k > 0)
      v = value_of(s, l->len, k, &vlen);
    else if (!l->output)
      p->st.bare++;
    if (put_text(p, l->output ? "Output" : s, l->output ? 6 : k,
                 &offs[2 * i]) != 0 ||
        put_text(p, v, vlen, &offs[2 * i + 1]) != 0)
      return SB_ENOMEM;
  }
  for (size_t i = 0; i < p->nlines; i++) {
    p->fields[i].key = p->out + offs[2 * i];
    p->fields[i].value = p->out + offs[2 * i + 1];
  }
  sb_ami_msg_t m = {kind_of(p->fields, p->nlines), p->fields, p->nlines,
                    p->bytes};
  p->st.messages++;
  return fn(ud, &m);
}

/* Drops what is held of the message and reads on to its end; skipped
 * bytes (no line end among them, the last one last) were dropped of the
 * line being read besides what buf holds of it. */
static void start_discarding(sb_ami_parser_t *p, size_t skipped, char last) {
  if (p->head[0] == '\0') {
    size_t n = p->nlines ? p->lines[0].len : p->len - p->part;
    const char *s = p->nlines ? p->buf + p->lines[0].off : p->buf + p->part;
    n = n < HEAD_MAX ? n : HEAD_MAX;
    memcpy(p->head, s, n);
    p->head[n] = '\0';
  }
  /* the line being read counts for the end (an empty line) */
  p->dline = p->len - p->part + skipped;
  p->dcr = skipped ? last == '\r' : p->dline > 0 && p->buf[p->len - 1] == '\r';
  p->len = p->part = p->nlines = 0;
  p->discarding = 1;
}

static int buf_put(sb_ami_parser_t *p, const char *s, size_t n) {
  if (p->cap - p->len < n + 1) {
    size_t cap = p->cap ? p->cap : 1024;
    while (cap - p->len < n + 1)
      cap *= 2;
    char *b = realloc(p->buf, cap);
    if (b == NULL)
      return -1;
    p->buf = b;
    p->cap = cap;
  }
  memcpy(p->buf + p->len, s, n);
  p->len += n;
  return 0;
}

/* The line from part to len (its "\n" consumed) is complete. */
static int line_done(sb_ami_parser_t *p, sb_ami_msg_fn fn, void *ud) {
  size_t n = p->len - p->part;
  if (n > 0 && p->buf[p->len - 1] == '\r')
    n--;
  const char *s = p->buf + p->part;
  if (p->banner_next) {
    p->banner_next = 0;
    int rc = deliver_line(p, SB_AMI_BANNER, s, n, p->bytes, fn, ud);
    msg_reset(p);
    return rc;
  }
  if (n == 0 && (!p->follows || p->follows_done)) {
    int rc = 0;
    if (p->nlines == 0)
      p->st.blank++;
    else
      rc = deliver(p, fn, ud);
    msg_reset(p);
    return rc;
  }
  int output = 0;
  if (p->follows && !p->follows_done) {
    const char *end = memmem(s, n, END_COMMAND, sizeof END_COMMAND - 1);
    if (end != NULL) {
      p->follows_done = 1;
      n = (size_t)(end - s);
      if (n == 0) { /* the marker alone: nothing to keep */
        p->len = p->part;
        return 0;
      }
    }
    /* Asterisk writes Privilege and ActionID before the text */
    output = p->lines[p->nlines - 1].output ||
             !(key_is(s, n, "Privilege") || key_is(s, n, "ActionID"));
  } else if (p->nlines == 0 && key_is(s, n, "Response")) {
    size_t vlen;
    const char *v = value_of(s, n, key_len(s, n), &vlen);
    p->follows = vlen == 7 && strncasecmp(v, "Follows", 7) == 0;
  }
  if (p->nlines >= p->max_fields) {
    start_discarding(p, 0, 0);
    p->dline = 0; /* this line ended: the next one is read */
    p->dcr = 0;
    return 0;
  }
  if (p->nlines == p->lines_cap) {
    size_t cap = p->lines_cap ? 2 * p->lines_cap : 32;
    line_t *l = realloc(p->lines, cap * sizeof *l);
    if (l == NULL)
      return SB_ENOMEM;
    p->lines = l;
    p->lines_cap = cap;
  }
  p->lines[p->nlines++] = (line_t){p->part, n, output};
  p->buf[p->part + n] = '\0';
  p->len = p->part + n + 1;
  p->part = p->len;
  return 0;
}

/* Discarding: reads to the empty line that ends the message (the line end
 * of a banner), then says what was refused. */
static size_t discard(sb_ami_parser_t *p, const char *data, size_t len,
                      int *rc, sb_ami_msg_fn fn, void *ud) {
  for (size_t i = 0; i < len; i++) {
    char c = data[i];
    p->bytes++;
    if (c != '\n') {
      p->dline++;
      p->dcr = c == '\r';
      continue;
    }
    if (p->dline == 0 || (p->dline == 1 && p->dcr) || p->banner_next) {
      p->banner_next = 0;
      char head[HEAD_MAX + 1];
      memcpy(head, p->head, sizeof head);
      size_t bytes = p->bytes;
      msg_reset(p);
      *rc = deliver_line(p, SB_AMI_REFUSED, head, strlen(head), bytes, fn, ud);
      return i + 1;
    }
    p->dline = 0;
    p->dcr = 0;
  }
  return len;
}

int sb_ami_parser_feed(sb_ami_parser_t *p, const char *data, size_t len,
                       sb_ami_msg_fn fn, void *ud) {
  while (len > 0) {
    int rc = 0;
    if (p->discarding) {
      size_t used = discard(p, data, len, &rc, fn, ud);
      data += used;
      len -= used;
      if (rc != 0)
        return rc;
      continue;
    }
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) + 1 : len;
    if (p->bytes + take > p->max_bytes) {
      /* what fits is not worth keeping: the message is refused */
      size_t keep = p->max_bytes - p->bytes;
      size_t put = keep < HEAD_MAX ? keep : HEAD_MAX;
      if (buf_put(p, data, put) != 0)
        goto nomem;
      p->bytes += keep;
      start_discarding(p, keep - put, keep ? data[keep - 1] : 0);
      data += keep;
      len -= keep;
      continue;
    }
    if (buf_put(p, data, nl ? take - 1 : take) != 0)
      goto nomem;
    p->bytes += take;
    data += take;
    len -= take;
    if (nl != NULL && (rc = line_done(p, fn, ud)) != 0) {
      if (rc == SB_ENOMEM)
        goto nomem;
      return rc;
    }
  }
  return 0;
nomem:
  msg_reset(p);
  return SB_ENOMEM;
}

/* ---- reading a message ---------------------------------------------------*/

const char *sb_ami_get_next(const sb_ami_msg_t *m, const char *key,
                            size_t *from) {
  for (size_t i = from ? *from : 0; i < m->n; i++)
    if (strcasecmp(m->fields[i].key, key) == 0) {
      if (from)
        *from = i + 1;
      return m->fields[i].value;
    }
  if (from)
    *from = m->n;
  return NULL;
}

const char *sb_ami_get(const sb_ami_msg_t *m, const char *key) {
  return sb_ami_get_next(m, key, NULL);
}

int sb_ami_is(const sb_ami_msg_t *m, const char *key, const char *value) {
  const char *v = sb_ami_get(m, key);
  return v != NULL && strcasecmp(v, value) == 0;
}

const char *sb_ami_var(const sb_ami_msg_t *m, const char *key,
                       const char *name, char *out, size_t outsz) {
  size_t at = 0, nl = strlen(name);
  const char *v, *found = NULL;
  while ((v = sb_ami_get_next(m, key, &at)) != NULL)
    if (strncmp(v, name, nl) == 0 && v[nl] == '=')
      found = v + nl + 1;
  if (found == NULL || outsz == 0)
    return NULL;
  sb__ami_copy(out, outsz, found);
  return out;
}

void sb__ami_copy(char *dst, size_t sz, const char *v) {
  size_t n = strlen(v);
  if (n >= sz) { /* cut on a character's start */
    n = sz - 1;
    while (n > 0 && ((unsigned char)v[n] & 0xc0) == 0x80)
      n--;
  }
  memcpy(dst, v, n);
  dst[n] = '\0';
}
