/**
 * DID search: types, names with wildcards, `long`, `limit`, plain query-argument filters and the
 * `filters=` Python literal (OR'ed dicts of AND'ed criteria, operator suffixes, JSON metadata).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { call, smallWorld } from './helpers.js';

// Custom keys need the JSON metadata plugin: a PostgreSQL-backed server (SQLite has none).
const { rucio, root } = smallWorld({ now: () => new Date('2026-11-25T09:10:10Z'), database: 'postgresql' });

beforeAll(async () => {
  await rucio.seedDataset({
    scope: 'test',
    name: 'run1',
    rse: 'SITE_A',
    meta: { project: 'lofar', instrument: 'hba' },
    files: [
      { name: 'img_001.fits', content: 'x', meta: { events: 10, instrument: 'hba', quality: 0.5 } },
      { name: 'img_002.fits', content: 'xy', meta: { events: 20, instrument: 'lba', quality: 0.9 } },
      { name: 'cat.csv', content: 'xyz', meta: { events: 30, datatype: 'catalogue' } },
    ],
  });
  await rucio.seedDataset({ scope: 'test', name: 'run2', rse: 'SITE_B', files: [], open: false });
  expect((await call(rucio, root, 'POST', '/dids/test/all', { type: 'CONTAINER', dids: [{ scope: 'test', name: 'run1' }, { scope: 'test', name: 'run2' }] })).status).toBe(201);
});

async function search(query: string): Promise<unknown[]> {
  const r = await call(rucio, root, 'GET', `/dids/test/dids/search?${query}`);
  expect(r.status, r.text).toBe(200);
  return r.lines();
}

const literal = (groups: unknown) => `filters=${encodeURIComponent(String(groups))}`;

describe('GET /dids/{scope}/dids/search', () => {
  it('filters by type (collection by default) and answers names as JSON strings', async () => {
    expect(await search('')).toEqual(['all', 'run1', 'run2']);
    expect(await search('type=all')).toEqual(['all', 'cat.csv', 'img_001.fits', 'img_002.fits', 'run1', 'run2']);
    expect(await search('type=file')).toEqual(['cat.csv', 'img_001.fits', 'img_002.fits']);
    expect(await search('type=container')).toEqual(['all']);
    const text = (await call(rucio, root, 'GET', '/dids/test/dids/search?type=container')).text;
    expect(text).toBe('"all"\n');
  });

  it('long answers {scope, name, did_type, bytes, length}; limit cuts', async () => {
    expect(await search('type=dataset&long=true')).toEqual([
      { scope: 'test', name: 'run1', did_type: 'DATASET', bytes: null, length: null },
      { scope: 'test', name: 'run2', did_type: 'DATASET', bytes: 0, length: 0 },
    ]);
    expect(await search('type=all&limit=2')).toEqual(['all', 'cat.csv']);
  });

  it('plain query arguments form one AND group, with wildcards and operators', async () => {
    expect(await search('type=file&name=img_*')).toEqual(['img_001.fits', 'img_002.fits']);
    expect(await search('type=file&name=*.fits&events.gte=20')).toEqual(['img_002.fits']);
    expect(await search('type=file&events.lt=30&events.ne=10')).toEqual(['img_002.fits']);
    expect(await search('type=all&datatype=catalogue')).toEqual(['cat.csv']);
    expect(await search('type=all&project=lofar')).toEqual(['run1']);
    expect(await search('type=all&created_after=2026-11-25T00:00:00&name=run*')).toEqual(['run1', 'run2']);
    expect(await search('type=all&created_before=2026-11-24 00:00:00')).toEqual([]);
    expect(await search('type=dataset&length.gte=0')).toEqual(['run2']);
  });

  it('filters= is a Python literal: a list of OR\'ed dicts, keys AND\'ed', async () => {
    expect(await search(`type=all&${literal("[{'name': 'img*', 'events.gt': 15}, {'name': 'cat*'}]")}`)).toEqual(['cat.csv', 'img_002.fits']);
    expect(await search(`type=all&${literal("{'name': 'run1'}")}`)).toEqual(['run1']);
    // The recorded call 46 used JSON syntax, also a valid literal.
    expect(await search(`type=all&${literal('[{"name": "img*", "events.gte": 20}]')}`)).toEqual(['img_002.fits']);
    expect(await search(`${literal("[{'type': 'file', 'name': '*1*'}, {'type': 'dataset', 'name': '*2'}]")}`)).toEqual(['img_001.fits', 'run2']);
  });

  it('custom metadata keys go to the JSON plugin (no type filter, long fields null)', async () => {
    expect(await search(`${literal("[{'instrument': 'hba'}]")}`)).toEqual(['img_001.fits', 'run1']);
    expect(await search('instrument=lba&long=1')).toEqual([{ scope: 'test', name: 'img_002.fits', did_type: null, bytes: null, length: null }]);
    expect(await search(`${literal("[{'quality.gte': 0.6}]")}`)).toEqual(['img_002.fits']);
    expect(await search('instrument=*ba&type=all')).toEqual(['img_001.fits', 'img_002.fits', 'run1']);
  });

  it('errors as the server: bad literal, mixed plugins, unknown column, wildcard with an order operator, bad type', async () => {
    const bad = await call(rucio, root, 'GET', `/dids/test/dids/search?${literal("[{'name': ")}`);
    expect([bad.status, bad.headers.get('content-type'), bad.headers.get('ExceptionClass')]).toEqual([500, 'text/html; charset=utf-8', null]);
    const mixed = await call(rucio, root, 'GET', `/dids/test/dids/search?${literal("[{'events': 10, 'instrument': 'hba'}]")}`);
    expect([mixed.status, mixed.json()]).toEqual([500, { ExceptionClass: 'InvalidMetadata', ExceptionMessage: 'Filter keys used do not all belong to the same metadata plugin.' }]);
    const wildcard = await call(rucio, root, 'GET', '/dids/test/dids/search?type=all&datatype.gt=cat*');
    expect([wildcard.status, wildcard.json()]).toEqual([400, { ExceptionClass: 'DIDFilterSyntaxError', ExceptionMessage: 'Wildcards can only be used with equality operators' }]);
    const type = await call(rucio, root, 'GET', '/dids/test/dids/search?type=files');
    expect([type.status, type.headers.get('ExceptionClass')]).toEqual([409, 'UnsupportedOperation']);
    const date = await call(rucio, root, 'GET', '/dids/test/dids/search?type=all&created_after=yesterday');
    expect([date.status, date.headers.get('ExceptionClass')]).toEqual([400, 'DIDFilterSyntaxError']);
    const lifetime = await call(rucio, root, 'GET', '/dids/test/dids/search?type=all&lifetime=3');
    expect([lifetime.status, lifetime.headers.get('ExceptionClass')]).toEqual([404, 'KeyNotFound']);
  });

  it('an unknown scope is an empty 200 (call 47); Accept: application/json is 406 (call 85)', async () => {
    const r = await call(rucio, root, 'GET', '/dids/nosuchscope/dids/search?type=all');
    expect([r.status, r.text, r.headers.get('content-length')]).toEqual([200, '', '0']);
    const j = await call(rucio, root, 'GET', '/dids/test/dids/search', undefined, { Accept: 'application/json' });
    expect(j.status).toBe(406);
  });
});

describe('DID metadata and content views', () => {
  it('keeps DID_COLUMN keys in the row and the rest as JSON metadata', async () => {
    const col = (await call(rucio, root, 'GET', '/dids/test/img_001.fits/meta')).json() as Record<string, unknown>;
    expect(col).toMatchObject({ events: 10, did_type: 'FILE', bytes: 1, adler32: '00790079' });
    expect(col).not.toHaveProperty('instrument');
    expect((await call(rucio, root, 'GET', '/dids/test/img_001.fits/meta?plugin=JSON')).json()).toEqual({ instrument: 'hba', quality: 0.5 });
    expect((await call(rucio, root, 'GET', '/dids/test/img_001.fits/meta?plugin=ALL')).json()).toMatchObject({ events: 10, instrument: 'hba' });
    const set = await call(rucio, root, 'POST', '/dids/test/img_001.fits/meta', { meta: { run_number: 7, telescope: 'LOFAR' } });
    expect(set.status).toBe(201);
    expect((await call(rucio, root, 'GET', '/dids/test/img_001.fits/meta')).json()).toMatchObject({ run_number: 7 });
    expect((await call(rucio, root, 'POST', '/dids/test/img_001.fits/meta/stage', { value: 'raw' })).status).toBe(201);
    expect(await search('type=file&telescope=LOFAR')).toEqual(['img_001.fits']);
    expect((await call(rucio, root, 'DELETE', '/dids/test/img_001.fits/meta?key=stage')).status).toBe(200);
    expect((await call(rucio, root, 'GET', '/dids/test/img_001.fits/meta?plugin=JSON')).json()).toEqual({ instrument: 'hba', quality: 0.5, telescope: 'LOFAR' });
    const dot = await call(rucio, root, 'POST', '/dids/test/img_001.fits/meta', { meta: { 'a.b': 1 } });
    expect([dot.status, dot.headers.get('ExceptionClass')]).toEqual([400, 'InvalidMetadata']);
    const plugin = await call(rucio, root, 'GET', '/dids/test/img_001.fits/meta?plugin=FOO');
    expect([plugin.status, plugin.headers.get('ExceptionClass')]).toEqual([400, 'UnsupportedMetadataPlugin']);
  });

  it('lists files recursively, parents, scope contents, and dynamic sizes', async () => {
    expect(((await call(rucio, root, 'GET', '/dids/test/all/files')).lines() as { name: string }[]).map((f) => f.name)).toEqual(['cat.csv', 'img_001.fits', 'img_002.fits']);
    expect((await call(rucio, root, 'GET', '/dids/test/img_002.fits/files')).lines()).toEqual([{ scope: 'test', name: 'img_002.fits', bytes: 2, adler32: '016b00f2', guid: null, events: 20 }]);
    expect((await call(rucio, root, 'GET', '/dids/test/run1/parents')).lines()).toEqual([{ scope: 'test', name: 'all', type: 'CONTAINER' }]);
    expect((await call(rucio, root, 'GET', '/dids/test/all?dynamic_depth=FILE')).json()).toMatchObject({ type: 'CONTAINER', length: 3, bytes: 6 });
    expect((await call(rucio, root, 'GET', '/dids/test/')).lines()).toEqual([{ scope: 'test', name: 'all', type: 'CONTAINER', parent: null, level: 0, bytes: null }]);
    const list = await call(rucio, root, 'POST', '/replicas/list', { dids: [{ scope: 'test', name: 'all' }], resolve_parents: true });
    expect((list.lines()[0] as { parents: string[] }).parents).toEqual(['test:run1', 'test:all']);
  });
});
