// `npm run demo`: the whole mission against an embedded local Data Lake.
// Until the emulator and staging land, it shows the client version and checks the build loads.
import * as dlaas from 'dlaas';

console.log(`dlaas ${dlaas.VERSION}`);
const did = dlaas.parseDid('lofar:L123456/SB000_uv.MS.tar');
console.log(`parsed DID ${dlaas.formatDid(did)} -> deterministic path ${await dlaas.lfn2pathHash(did)}`);
