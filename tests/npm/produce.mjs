// A producer writing Avro straight to Kafka, as Confluent's JavaScript
// client does it against Switchboard's registry: it holds a schema file,
// looks its id up (POST /subjects/{subject}), serializes a record with
// that id (the serializer fetches the schema by id and looks it up again),
// and the deserializer reads the bytes back.
//   node produce.mjs URL TOKEN SCHEMA_FILE SUBJECT RECORD_JSON
// Prints {"id": N, "same": true|false, "hex": "<the Kafka value>"}.
import fs from "node:fs";
import {
  AvroDeserializer, AvroSerializer, SchemaRegistryClient, SerdeType,
  SubjectNameStrategyType,
} from "@confluentinc/schemaregistry";

const [url, token, file, subject, recordJson] = process.argv.slice(2);
const client = new SchemaRegistryClient({
  baseURLs: [url],
  basicAuthCredentials: { credentialsSource: "USER_INFO", userInfo: `sb:${token}` },
});
const id = await client.getId(subject, { schemaType: "AVRO", schema: fs.readFileSync(file, "utf8") });
const conf = { subjectNameStrategyType: SubjectNameStrategyType.RECORD };
const ser = new AvroSerializer(client, SerdeType.VALUE,
  { ...conf, autoRegisterSchemas: false, useSchemaId: id });
const record = JSON.parse(recordJson);
const bytes = await ser.serialize("sb.leads", record);
const back = await new AvroDeserializer(client, SerdeType.VALUE, conf).deserialize("sb.leads", bytes);
const same = Object.entries(record).every(([k, v]) => JSON.stringify(back[k]) === JSON.stringify(v));
console.log(JSON.stringify({ id, same, hex: bytes.toString("hex") }));
