// Validates an OpenAPI document with @seriousme/openapi-schema-validator
// (the OpenAPI Initiative's JSON Schemas for 3.0 and 3.1).
//   node validate.mjs FILE
// Exit 0 and "valid" when it is; 1 with the validator's errors when not.
import fs from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";

const v = new Validator();
const res = await v.validate(JSON.parse(fs.readFileSync(process.argv[2], "utf8")));
if (!res.valid) {
  console.error(JSON.stringify(res.errors, null, 1));
  process.exit(1);
}
console.log(`valid OpenAPI ${v.version}`);
