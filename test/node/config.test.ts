import { createServer } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/index.js';
import { loadDataLakeConfig, type LoadDataLakeConfigOptions } from '../../src/node.js';
import { errorOf, expectNoSecrets, makeKey, mint } from '../auth/helpers.js';
import { closeServer, listen } from '../auth/op.js';

const ISS = 'https://iam-escape.cloud.cnaf.infn.it/';
let dir = '';
let token = '';
let fileToken = '';
let remoteUrl = '';
const remote = createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ rucio_base_url: 'https://remote-rucio.example.org', destination_rse: 'REMOTE-RSE', rse_mount_path: '/eos/remote', mode: 'replica' })));
const opts = (extra: LoadDataLakeConfigOptions = {}): LoadDataLakeConfigOptions => ({ configFile: false, uid: 987_654, defaultTokenFile: false, ...extra });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dlaas-config-'));
  const key = await makeKey('k');
  token = await mint(key, { iss: ISS, aud: 'rucio', scope: 'openid profile offline_access' });
  fileToken = await mint(key, { iss: ISS, aud: 'rucio', scope: 'openid profile', jti: 'file' });
  remoteUrl = `http://127.0.0.1:${await listen(remote)}/rucio-config.json`;
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
  await closeServer(remote);
});

/** The VRE hub's extension environment (esap-dlaas.md §2.6). */
const VRE = {
  RUCIO_MODE: 'replica',
  RUCIO_BASE_URL: 'https://vre-rucio.cern.ch',
  RUCIO_AUTH_URL: 'https://vre-rucio-auth.cern.ch',
  RUCIO_OIDC_AUTH: 'env',
  RUCIO_OIDC_ENV_NAME: 'RUCIO_ACCESS_TOKEN',
  RUCIO_DESTINATION_RSE: 'CERN-EOSPILOT',
  RUCIO_RSE_MOUNT_PATH: '/eos/eulake',
  RUCIO_PATH_BEGINS_AT: '5',
  RUCIO_ACCOUNT: 'jdoe',
  ESAP_URL: 'https://esap.escape.example.org/esap-api/',
};

describe('loadDataLakeConfig from the environment', () => {
  it('reads what the ESCAPE hub sets, and reports where each value came from', async () => {
    const config = await loadDataLakeConfig({ ...VRE, RUCIO_ACCESS_TOKEN: token }, opts());
    expect(config).toMatchObject({
      rucio: { baseUrl: 'https://vre-rucio.cern.ch', authUrl: 'https://vre-rucio-auth.cern.ch', account: 'jdoe' },
      esapUrl: VRE.ESAP_URL,
      destinationRse: 'CERN-EOSPILOT',
      rseMountPath: '/eos/eulake',
      pathBeginsAt: 5,
      mode: 'replica',
    });
    expect(config.sources).toEqual({
      'rucio.baseUrl': 'env:RUCIO_BASE_URL',
      'rucio.authUrl': 'env:RUCIO_AUTH_URL',
      'rucio.account': 'env:RUCIO_ACCOUNT',
      esapUrl: 'env:ESAP_URL',
      destinationRse: 'env:RUCIO_DESTINATION_RSE',
      rseMountPath: 'env:RUCIO_RSE_MOUNT_PATH',
      pathBeginsAt: 'env:RUCIO_PATH_BEGINS_AT',
      mode: 'env:RUCIO_MODE',
      token: 'env:RUCIO_ACCESS_TOKEN',
    });
    expect(await config.token?.getToken()).toBe(token);
    expect(JSON.stringify(config)).not.toContain(token);
  });

  it('names the variable to set when a value is missing or wrong', async () => {
    const cases: [Record<string, string>, string][] = [
      [{ RUCIO_ACCESS_TOKEN: token }, 'RUCIO_BASE_URL'],
      [{ RUCIO_BASE_URL: 'not a url', RUCIO_ACCESS_TOKEN: token }, 'RUCIO_BASE_URL'],
      [{ RUCIO_BASE_URL: 'https://r', RUCIO_AUTH_URL: 'ftp://x', RUCIO_ACCESS_TOKEN: token }, 'RUCIO_AUTH_URL'],
      [{ RUCIO_BASE_URL: 'https://r', RUCIO_PATH_BEGINS_AT: 'five', RUCIO_ACCESS_TOKEN: token }, 'RUCIO_PATH_BEGINS_AT'],
      [{ RUCIO_BASE_URL: 'https://r', RUCIO_MODE: 'mirror', RUCIO_ACCESS_TOKEN: token }, 'RUCIO_MODE'],
      [{ RUCIO_BASE_URL: 'https://r', RUCIO_MODE: 'replica', RUCIO_ACCESS_TOKEN: token }, 'RUCIO_DESTINATION_RSE'],
      [{ RUCIO_BASE_URL: 'https://r', RUCIO_MODE: 'replica', RUCIO_DESTINATION_RSE: 'X', RUCIO_ACCESS_TOKEN: token }, 'RUCIO_RSE_MOUNT_PATH'],
      [{ RUCIO_BASE_URL: 'https://r' }, 'RUCIO_ACCESS_TOKEN'],
      [{ RUCIO_BASE_URL: 'https://r', RUCIO_OIDC_ENV_NAME: 'HUB_TOKEN' }, 'HUB_TOKEN'],
    ];
    for (const [env, setting] of cases) {
      const e = await errorOf(loadDataLakeConfig(env, opts()));
      expect(e, setting).toBeInstanceOf(ConfigError);
      expect((e as ConfigError).setting).toBe(setting);
      expect(e.message).toContain(setting);
      expectNoSecrets(e, [token]);
    }
    const noToken = await loadDataLakeConfig({ RUCIO_BASE_URL: 'https://r' }, opts({ requireToken: false }));
    expect(noToken.token).toBeUndefined();
    expect(noToken.sources.token).toBeUndefined();
  });
});

describe('loadDataLakeConfig with the JupyterLab extension RucioConfig', () => {
  async function writeConfig(doc: unknown): Promise<string> {
    const cfgDir = await mkdtemp(join(dir, 'jupyter-'));
    await mkdir(cfgDir, { recursive: true });
    const path = join(cfgDir, 'jupyter_server_config.json');
    await writeFile(path, JSON.stringify(doc));
    return cfgDir;
  }

  it('takes the default instance, with the token file it names; the environment wins over the file', async () => {
    const tokenFile = join(dir, 'rucio_oauth.token');
    await writeFile(tokenFile, fileToken);
    const cfgDir = await writeConfig({
      RucioConfig: {
        default_instance: 'escape',
        instances: [
          { name: 'atlas', display_name: 'ATLAS', rucio_base_url: 'https://atlas-rucio.cern.ch', mode: 'download' },
          { name: 'escape', display_name: 'ESCAPE', rucio_base_url: 'https://vre-rucio.cern.ch', rucio_auth_url: 'https://vre-rucio-auth.cern.ch', mode: 'replica', destination_rse: 'CERN-EOSPILOT', rse_mount_path: '/eos/eulake', path_begins_at: 5, vo: 'escape', oidc_auth: 'file', oidc_file_name: tokenFile },
        ],
      },
    });
    const path = join(cfgDir, 'jupyter_server_config.json');
    const config = await loadDataLakeConfig({ JUPYTER_CONFIG_DIR: cfgDir, RUCIO_ACCESS_TOKEN: token, RUCIO_RSE_MOUNT_PATH: '/eos/override' }, opts({ configFile: undefined }));
    expect(config.instance).toBe('escape');
    expect(config.rucio).toEqual({ baseUrl: 'https://vre-rucio.cern.ch', authUrl: 'https://vre-rucio-auth.cern.ch', vo: 'escape' });
    expect(config.pathBeginsAt).toBe(5);
    expect(config.rseMountPath).toBe('/eos/override');
    expect(config.sources['rucio.baseUrl']).toBe(`file:${path}#RucioConfig.instances[escape].rucio_base_url`);
    expect(config.sources.rseMountPath).toBe('env:RUCIO_RSE_MOUNT_PATH');
    // oidc_auth=file: the file comes before the variable.
    expect(config.sources.token).toBe(`file:${tokenFile}`);
    expect(await config.token?.getToken()).toBe(fileToken);

    const atlas = await loadDataLakeConfig({ RUCIO_DEFAULT_INSTANCE: 'atlas', RUCIO_ACCESS_TOKEN: token }, opts({ configFile: path }));
    expect(atlas).toMatchObject({ instance: 'atlas', mode: 'download', rucio: { baseUrl: 'https://atlas-rucio.cern.ch' } });
    const unknown = await errorOf(loadDataLakeConfig({ RUCIO_ACCESS_TOKEN: token }, opts({ configFile: path, instance: 'cms' })));
    expect((unknown as ConfigError).setting).toBe('instance');
    expect(unknown.message).toMatch(/atlas, escape/);
  });

  it('merges a remote instance config ($url) under the local values', async () => {
    const cfgDir = await writeConfig({ RucioConfig: { instances: [{ name: 'remote', display_name: 'Remote', $url: remoteUrl, rse_mount_path: '/eos/local' }] } });
    const config = await loadDataLakeConfig({ RUCIO_ACCESS_TOKEN: token }, opts({ configFile: join(cfgDir, 'jupyter_server_config.json') }));
    expect(config).toMatchObject({ rucio: { baseUrl: 'https://remote-rucio.example.org' }, destinationRse: 'REMOTE-RSE', rseMountPath: '/eos/local', mode: 'replica' });
    expect(config.sources['rucio.baseUrl']).toBe(`url:${remoteUrl}#rucio_base_url`);
  });

  it('a broken config file is a ConfigError naming it', async () => {
    const bad = join(dir, 'broken.json');
    await writeFile(bad, '{ "RucioConfig": ');
    const e = await errorOf(loadDataLakeConfig({ RUCIO_ACCESS_TOKEN: token }, opts({ configFile: bad })));
    expect((e as ConfigError).setting).toBe('configFile');
    expect(e.message).toContain(bad);
  });
});
