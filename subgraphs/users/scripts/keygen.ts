// Prints a new signing key ring for AUTH_SIGNING_KEYS. To rotate, add the "keys" entry to
// the existing ring first, and make it "active" only once verifiers have fetched it.
//
//   npm run auth:keygen
import { generateSigningKey } from '../src/auth/signing-keys.ts';

const key = await generateSigningKey();
console.log(JSON.stringify({ active: key.kid, keys: [key] }));
