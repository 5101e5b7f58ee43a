// Decodes Kafka records with Confluent's own JavaScript deserializer
// (@confluentinc/schemaregistry), given nothing but the registry's URL and
// credentials: every schema comes from the registry by the id in the
// record's Confluent framing.
//   node decode.mjs URL TOKEN STRATEGY RECORDS
// STRATEGY: "record" (RecordNameStrategy, what the README says to set) or
// "default" (the deserializer's own default). RECORDS: kcat's output with
// -f '%t %o %S\n%s\n'. Prints one JSON line per record:
// {"topic","offset","value"}.
import fs from "node:fs";
import {
  AvroDeserializer, SchemaRegistryClient, SerdeType, SubjectNameStrategyType,
} from "@confluentinc/schemaregistry";

const [url, token, strategy, file] = process.argv.slice(2);
const client = new SchemaRegistryClient({
  baseURLs: [url],
  basicAuthCredentials: { credentialsSource: "USER_INFO", userInfo: `sb:${token}` },
});
const conf = strategy === "record"
  ? { subjectNameStrategyType: SubjectNameStrategyType.RECORD } : {};
const de = new AvroDeserializer(client, SerdeType.VALUE, conf);

const raw = fs.readFileSync(file);
const bigint = (k, v) => (typeof v === "bigint" ? v.toString() : v);
let pos = 0;
while (pos < raw.length) {
  const nl = raw.indexOf(0x0a, pos);
  if (nl < 0) throw new Error(`truncated header at byte ${pos}`);
  const [topic, offset, size] = raw.subarray(pos, nl).toString().split(" ");
  const n = Number(size);
  if (!topic || !(n > 0)) throw new Error(`bad header at byte ${pos}`);
  const value = raw.subarray(nl + 1, nl + 1 + n);
  pos = nl + 1 + n + 1;
  const decoded = await de.deserialize(topic, value);
  process.stdout.write(JSON.stringify({ topic, offset: Number(offset), value: decoded }, bigint) + "\n");
}
