// Strict-mode validators for OCPP 2.x with ocpp-rpc.
//
// ocpp-rpc 2.2.1 ships the official OCPP 2.1 JSON schemas (lib/schemas/ocpp2_1.json) but registers
// them under their own ids ("urn:AuthorizeRequest" / "urn:AuthorizeResponse") while its client looks
// schemas up as "urn:<Action>.req" / "urn:<Action>.conf" (as the 1.6 and 2.0.1 files are named).
// With its built-in 2.1 validator every strict 2.1 call therefore fails with "Schema
// 'urn:Heartbeat.req' is missing". We build the 2.1 validator from the same shipped schemas with
// the ids ocpp-rpc looks up (README: "Adding additional validation schemas"; a validator passed in
// `strictModeValidators` overrides the built-in one). 2.0.1 uses ocpp-rpc's own validator as is.
import { createRequire } from 'node:module';

import { createValidator } from 'ocpp-rpc';

const require = createRequire(import.meta.url);

export const OCPP201 = 'ocpp2.0.1';
export const OCPP21 = 'ocpp2.1';

let validator21;

// The 2.1 files put `additionalProperties: false` on string enums too, which ajv reports (on stderr)
// once per definition while compiling; on a string the keyword means nothing, so it is dropped.
function withoutStringAdditionalProperties(definitions) {
  return Object.fromEntries(
    Object.entries(definitions).map(([name, def]) => {
      if (def.type !== 'string' || !('additionalProperties' in def)) return [name, def];
      const rest = { ...def };
      delete rest.additionalProperties;
      return [name, rest];
    }),
  );
}

function ocpp21Validator() {
  if (!validator21) {
    const schemas = require('ocpp-rpc/lib/schemas/ocpp2_1.json').map((schema) => ({
      ...schema,
      $id: schema.$id.replace(/Request$/, '.req').replace(/Response$/, '.conf'),
      definitions: withoutStringAdditionalProperties(schema.definitions ?? {}),
    }));
    validator21 = createValidator(OCPP21, schemas);
  }
  return validator21;
}

// The `strictModeValidators` option for an RPCClient / RPCServer speaking `protocols`.
export function strictValidators(protocols) {
  return protocols.includes(OCPP21) ? [ocpp21Validator()] : [];
}
