// Validates OpenAPI documents with @seriousme/openapi-schema-validator
// (the OpenAPI Initiative's JSON Schemas for 3.0 and 3.1).
//   node validate.mjs FILE...
// Prints "FILE: valid OpenAPI 3.1" or "FILE: invalid" (the validator's
// errors on stderr) for each; exit 0 when every one is valid, else 1.
import fs from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

let bad = 0;
for (const file of process.argv.slice(2)) {
  const v = new Validator();
  const res = await v.validate(JSON.parse(fs.readFileSync(file, "utf8")));
  if (res.valid) {
    console.log(`${file}: valid OpenAPI ${v.version}`);
  } else {
    bad++;
    console.log(`${file}: invalid`);
    console.error(`${file}: ${JSON.stringify(res.errors)}`);
  }
}
process.exit(bad ? 1 : 0);
