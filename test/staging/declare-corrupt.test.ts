/**
 * A corrupt replica, end to end on the emulated Data Lake: a download finds that one replica's
 * bytes do not match the catalogue and takes the file from another (reporting the corrupt one in
 * the manifest); the user declares it with `staging.declareCorrupt`; Rucio then no longer offers
 * it, and the next download reads only the good replica.
 */
import { describe, expect, it } from 'vitest';
import { ChecksumMismatchError, ForbiddenError, corruptReplicas, createDataLake, lfn2pathHash, memorySink, parseDid } from '../../src/index.js';
import { createDataLakeEmulator } from '../../src/testing.js';

async function setup() {
  const emu = await createDataLakeEmulator();
  const jdoe = emu.addUser({ account: 'jdoe', email: 'jdoe@example.org', admin: true });
  await emu.seedDataset({ scope: 'user.jdoe', name: 'obs', rses: ['SITE_A', 'SITE_B'], files: [{ name: 'img.fits', content: 'SIMPLE  = T good bytes' }, { name: 'cat.fits', content: 'SIMPLE  = T catalogue' }] });
  // SITE_A's copy of img.fits rots: same size, other bytes.
  const path = `/storage/site_a/rucio/${await lfn2pathHash({ scope: 'user.jdoe', name: 'img.fits' })}`;
  emu.storage.get('SITE_A')?.put(path, new TextEncoder().encode('SIMPLE  = T gXod bytes'));
  const storageToken = await emu.mintStorageToken();
  const lakeOf = (account: string, token: string) => createDataLake({ rucio: { baseUrl: emu.url, account, retry: { limit: 0 } }, auth: { token, storageToken }, fetch: emu.fetch });
  return { emu, jdoe: lakeOf('jdoe', jdoe), root: lakeOf('root', emu.rucio.issueToken('root')) };
}

const rsesOf = async (lake: ReturnType<typeof createDataLake>, name: string) => Object.keys((await lake.rucio.replicas.list([parseDid(`user.jdoe:${name}`)]).first())?.rses ?? {}).sort();

describe('corrupt replica: found by staging, declared, no longer offered', () => {
  it('download reports the corrupt replica, the user declares it bad, replicas.list and the next download skip it', async () => {
    const { emu, jdoe, root } = await setup();
    const first = await jdoe.staging.stage(['user.jdoe:obs'], { mode: 'download', sink: memorySink(), preferRses: ['SITE_A'] });
    expect(first.status).toBe('AVAILABLE'); // the file came from SITE_B
    const img = first.files.find((f) => f.did?.name === 'img.fits');
    expect(img).toMatchObject({ status: 'OK', corruptReplicas: [{ rse: 'SITE_A', check: 'adler32' }] });
    expect(img?.corruptReplicas?.[0]?.error).toBeInstanceOf(ChecksumMismatchError);
    expect(img?.sourcePfn).toMatch(/site_b/);
    expect(first.files.find((f) => f.did?.name === 'cat.fits')?.corruptReplicas).toBeUndefined();
    expect(corruptReplicas(first)).toMatchObject([{ did: { scope: 'user.jdoe', name: 'img.fits' }, rse: 'SITE_A', check: 'adler32' }]);

    // jdoe may not declare bad replicas under the generic policy (root only). Suspicious, yes, but by
    // PFN: Rucio's default PFN→DID translation takes the path's first segment as the scope, so a
    // user.jdoe file (user/jdoe/xx/yy/name) is not found, and the answer says so.
    await expect(jdoe.staging.declareCorrupt(first)).rejects.toBeInstanceOf(ForbiddenError);
    expect((await jdoe.staging.declareCorrupt(first, { as: 'suspicious' })).notDeclared).toEqual({ SITE_A: ["(user, 'img.fits') Unknown replica"] });
    expect(await rsesOf(jdoe, 'img.fits')).toEqual(['SITE_A', 'SITE_B']);

    const declared = await root.staging.declareCorrupt(first);
    expect(declared.notDeclared).toEqual({});
    expect(declared.declared.map((c) => [c.did.name, c.rse])).toEqual([['img.fits', 'SITE_A']]);
    expect(await rsesOf(jdoe, 'img.fits')).toEqual(['SITE_B']);
    expect(await rsesOf(jdoe, 'cat.fits')).toEqual(['SITE_A', 'SITE_B']);
    expect(await root.rucio.replicas.listBad({ state: 'BAD' }).toArray()).toMatchObject([{ name: 'img.fits', rse: 'SITE_A' }]);
    expect(await root.rucio.replicas.badSummary().toArray()).toMatchObject([{ BAD: 1, reason: 'adler32 mismatch found by dlaas staging' }]);

    emu.rucio.resetLog();
    const again = await jdoe.staging.stage(['user.jdoe:img.fits'], { mode: 'download', sink: memorySink(), preferRses: ['SITE_A'] });
    expect(again.files[0]).toMatchObject({ status: 'OK', attempts: 1 });
    expect(again.files[0]?.corruptReplicas).toBeUndefined();
    expect(again.files[0]?.sourcePfn).toMatch(/site_b/);
  });

  it('a file whose only replica is corrupt fails, names the replica, and declaring it leaves nothing to offer', async () => {
    const { jdoe, root } = await setup();
    await root.rucio.replicas.declareBad([{ scope: 'user.jdoe', name: 'img.fits', rse: 'SITE_B' }], { reason: 'test: only SITE_A left' });
    const r = await jdoe.staging.stage(['user.jdoe:img.fits'], { mode: 'download', sink: memorySink() });
    expect(r.files[0]).toMatchObject({ status: 'FAILED', corruptReplicas: [{ rse: 'SITE_A', check: 'adler32' }] });
    expect(r.files[0]?.error).toBeInstanceOf(ChecksumMismatchError);
    expect((await root.staging.declareCorrupt(r, { reason: 'checksum mismatch' })).notDeclared).toEqual({});
    expect(await rsesOf(jdoe, 'img.fits')).toEqual([]);
    expect(await root.rucio.replicas.declareBad([{ scope: 'user.jdoe', name: 'img.fits', rse: 'SITE_A' }], { reason: 'again' })).toEqual({ SITE_A: ['user.jdoe:img.fits Already declared'] });
    // Nothing corrupt: nothing sent.
    expect(await root.staging.declareCorrupt({ files: [] })).toEqual({ declared: [], notDeclared: {} });
  });
});
