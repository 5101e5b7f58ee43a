/* The dispatcher's pure parts (connectors/dispatch): templates rendered
 * from the variables object (flat dotted keys, nested paths, numbers,
 * a missing variable named, text that only looks like a placeholder), code
 * points counted for max_length, and provider errors scrubbed of numbers,
 * addresses and the account's secret. */
#include "sb_dispatch_int.h"
#include "sb_test.h"
#include "sb_tests.h"

#include <cjson/cJSON.h>
#include <string.h>

static int render(const char *tmpl, const char *vars, char *out, size_t sz,
                  char *missing, size_t msz) {
  cJSON *v = cJSON_Parse(vars);
  sb_text_t t = {0};
  int rc = sb__dsp_render(tmpl, v, &t, missing, msz);
  sb_text_put(&t, "", 1);
  snprintf(out, sz, "%s", rc == 0 && t.s ? t.s : "");
  sb_text_free(&t);
  cJSON_Delete(v);
  return rc;
}

int test_dispatch_render(void) {
  char out[256], missing[64];
  const char *vars = "{\"lead.first_name\": \"Ann\", \"agent\": {\"name\": "
                     "\"Bo\"}, \"code\": 4321, \"ratio\": 0.5, \"no\": null}";
  CHECK_INT(render("Hi {{lead.first_name}}, {{ agent.name }} here: {{code}} "
                   "{{ratio}}", vars, out, sizeof out, missing, sizeof missing),
            0);
  CHECK_STR(out, "Hi Ann, Bo here: 4321 0.5");
  /* a missing or null variable blocks, naming it */
  CHECK_INT(render("Hi {{lead.last_name}}", vars, out, sizeof out, missing,
                   sizeof missing),
            SB_ENOENT);
  CHECK_STR(missing, "lead.last_name");
  CHECK_INT(render("{{no}}", vars, out, sizeof out, missing, sizeof missing),
            SB_ENOENT);
  CHECK_STR(missing, "no");
  /* an unclosed brace pair is text; no placeholders, the template as is */
  CHECK_INT(render("a {{ b", vars, out, sizeof out, missing, sizeof missing), 0);
  CHECK_STR(out, "a {{ b");
  CHECK_INT(render("plain", "{}", out, sizeof out, missing, sizeof missing), 0);
  CHECK_STR(out, "plain");
  /* values are not rendered again */
  CHECK_INT(render("{{x}}", "{\"x\": \"{{y}}\"}", out, sizeof out, missing,
                   sizeof missing),
            0);
  CHECK_STR(out, "{{y}}");
  CHECK_INT(sb__dsp_cps("h\xc3\xa9llo \xf0\x9f\x98\x80"), 7);
  return 0;
}

int test_dispatch_scrub(void) {
  char out[256];
  sb__dsp_scrub("The 'To' number +15550000400 is not valid", NULL, out,
                sizeof out);
  CHECK_STR(out, "The 'To' number *** is not valid");
  sb__dsp_scrub("mailbox ann@example.com unknown (code 550)", NULL, out,
                sizeof out);
  CHECK_STR(out, "mailbox *** unknown (code 550)");
  sb__dsp_scrub("token xoxb-secret-1 refused", "xoxb-secret-1", out,
                sizeof out);
  CHECK_STR(out, "token *** refused");
  /* bounded */
  char small[8];
  sb__dsp_scrub("abcdefghijklmnop", NULL, small, sizeof small);
  CHECK(strlen(small) < sizeof small);
  return 0;
}
