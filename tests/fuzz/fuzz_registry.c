/* Fuzz target: requests to the Schema Registry API
 * (connectors/api/sb_api_registry.c) and so the Avro schema texts a client
 * posts through engine/sb_avsc.c (canonical form, resolution against every
 * version of a subject). The input is "METHOD\nPATH\nQUERY\nBODY"; a
 * missing line is empty. Every answer must be JSON, an error in
 * Confluent's form. */
#include "sb_api_registry.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sb_registry_t *g; /* built once: the compiled-in schemas */

/* The next line of [*p, end) as a NUL-terminated copy. */
static char *line(const char **p, const char *end) {
  const char *nl = memchr(*p, '\n', (size_t)(end - *p));
  size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
  char *s = malloc(n + 1);
  if (s != NULL) {
    memcpy(s, *p, n);
    s[n] = '\0';
  }
  *p += n + (nl != NULL);
  return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  sb_err_t err = SB_ERR_INIT;
  if (g == NULL && sb_registry_new(&g, &err) != 0)
    abort();
  const char *p = (const char *)data, *end = p + size;
  char *method = line(&p, end), *path = line(&p, end), *query = line(&p, end);
  sb_registry_answer_t a;
  if (method && path && query &&
      sb_registry_answer(g, method, path, query, p, (size_t)(end - p), &a) ==
          0) {
    /* every answer is JSON; an error is Confluent's {"error_code",
     * "message"} */
    cJSON *o = cJSON_ParseWithLength(a.body, a.len);
    const cJSON *code = cJSON_GetObjectItemCaseSensitive(o, "error_code");
    int ok = o != NULL && strcmp(a.type, SB_REGISTRY_TYPE) == 0 &&
             (a.status == 200 ||
              ((a.status == 400 || a.status == 404 || a.status == 405 ||
                a.status == 422) &&
               cJSON_IsNumber(code) &&
               cJSON_IsString(cJSON_GetObjectItemCaseSensitive(o, "message"))));
    cJSON_Delete(o);
    free(a.body);
    if (!ok)
      abort();
  }
  free(method);
  free(path);
  free(query);
  return 0;
}
