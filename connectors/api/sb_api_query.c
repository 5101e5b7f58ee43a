/* Query strings and URL parts percent-decoded, for every route of the API
 * (sb_api_read.h, sb_api_read_int.h). Apart from the readers so that the
 * Schema Registry API's answers link without them. */
#include "sb_api_read.h"
#include "sb_api_read_int.h"

#include <string.h>

static int hexval(char ch) {
  return ch >= '0' && ch <= '9'   ? ch - '0'
         : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
         : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                  : -1;
}

/* Percent-decodes [s, s+n) into out (cap bytes with the NUL): the length,
 * or -1 for a bad escape, a NUL or a control character, or -2 when it does
 * not fit. */
int sb_rdq_url_decode(const char *s, size_t n, char *out, size_t cap) {
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '+')
      ch = ' ';
    else if (ch == '%') {
      if (i + 2 >= n)
        return -1;
      int a = hexval(s[i + 1]), b = hexval(s[i + 2]);
      if (a < 0 || b < 0)
        return -1;
      ch = (unsigned char)(a * 16 + b);
      i += 2;
    }
    if (ch < 0x20 || ch == 0x7f)
      return -1;
    if (o + 1 >= cap)
      return -2;
    out[o++] = (char)ch;
  }
  out[o] = '\0';
  return (int)o;
}

int sb_api_query_param(const char *qs, const char *name, char *out,
                       size_t cap) {
  size_t nl = strlen(name);
  for (const char *p = qs ? qs : ""; *p;) {
    const char *amp = strchr(p, '&');
    size_t len = amp ? (size_t)(amp - p) : strlen(p);
    if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=')
      return sb_rdq_url_decode(p + nl + 1, len - nl - 1, out, cap) < 0 ? -1 : 1;
    if (!amp)
      break;
    p = amp + 1;
  }
  return 0;
}
