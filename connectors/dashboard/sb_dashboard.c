#include "sb_dashboard.h"

#include "sb_util.h"

#include <stdio.h>
#include <string.h>

/* connectors/dashboard/www/, compiled in (engine/embed_files.cmake). */
extern const sb_file_t sb_dashboard_files[];
extern const size_t sb_dashboard_files_n;

/* Nothing from another origin, no inline script or style, no plugins, not
 * framed: the page's scripts are ours, its requests go to this API (the
 * feed included: 'self' covers ws: and wss: of the same host). */
static const char csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'";

const char *sb_dashboard_csp(void) { return csp; }

static const struct {
  const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".json", "application/json"},
};

static const char *type_of(const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    size_t e = strlen(types[i].ext);
    if (n > e && strcmp(name + n - e, types[i].ext) == 0)
      return types[i].type;
  }
  return NULL;
}

static const sb_file_t *find(const char *name) {
  for (size_t i = 0; i < sb_dashboard_files_n; i++)
    if (strcmp(sb_dashboard_files[i].name, name) == 0)
      return &sb_dashboard_files[i];
  return NULL;
}

void sb_dashboard_get(sb_http_req_t *r, void *ud) {
  (void)ud;
  const char *path = sb_http_path(r);
  const char *name = NULL;
  if (strcmp(path, "/") == 0)
    name = "index.html";
  else if (strncmp(path, "/ui/", 4) == 0)
    name = path + 4; /* a flat folder: a name with '/' is found nowhere */
  const sb_file_t *f = name ? find(name) : NULL;
  const char *type = f ? type_of(f->name) : NULL;
  if (f == NULL || type == NULL) {
    sb_http_error(r, 404, "not_found",
                  "no such page: the dashboard is at / (its files under /ui/)",
                  NULL);
    return;
  }
  char hdr[768];
  snprintf(hdr, sizeof hdr,
           "Content-Security-Policy: %s\r\n"
           "X-Content-Type-Options: nosniff\r\n"
           "Referrer-Policy: no-referrer\r\n"
           "X-Frame-Options: DENY\r\n"
           "Cross-Origin-Opener-Policy: same-origin\r\n"
           "Cross-Origin-Resource-Policy: same-origin\r\n"
           "Cache-Control: no-cache\r\n",
           csp);
  sb_http_respond(r, 200, type, f->data, f->len, hdr);
}
