// Bundle size: esbuild (browser, ESM, minified, tree-shaken) + gzip -9 of what an app imports, next to
// the libraries of the anchor table measured the same way from node_modules. Deterministic: one run.
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const root = new URL('..', import.meta.url).pathname;
const require = createRequire(import.meta.url);

async function size(contents) {
  const out = await esbuild.build({
    stdin: { contents, resolveDir: root, loader: 'js' },
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
    legalComments: 'none',
  });
  const code = out.outputFiles[0].contents;
  // Largest inputs, by package, to say where the bytes come from.
  const byPkg = {};
  for (const [file, info] of Object.entries(out.metafile.outputs[Object.keys(out.metafile.outputs)[0]].inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    const key = m ? m[1] : 'dlaas';
    byPkg[key] = (byPkg[key] ?? 0) + info.bytesInOutput;
  }
  const top = Object.entries(byPkg).filter(([, v]) => v >= 50).sort((a, b) => b[1] - a[1]).slice(0, 5).map(([k, v]) => `${k} ${(v / 1000).toFixed(1)}`).join(', ');
  return { min: code.length, gzip: gzipSync(code, { level: 9 }).length, top };
}

const has = (pkg) => {
  try {
    require.resolve(pkg, { paths: [root] });
    return true;
  } catch {
    return false;
  }
};

export default async function bundle() {
  const entries = [
    { figure: 'bundle: { RucioClient, EsapClient } from dlaas', contents: "export { RucioClient, EsapClient } from 'dlaas';", goal: '≤ 20 kB' },
    { figure: 'bundle: all of dlaas (export *)', contents: "export * from 'dlaas';", goal: '≤ 45 kB' },
    { figure: 'bundle: { RucioClient } from dlaas', contents: "export { RucioClient } from 'dlaas';" },
    // Anchors, as an app typically uses them (the anchor column: 5.9, 5.1, 6.2, 7.0 kB).
    { figure: 'anchor: oauth4webapi (code + refresh grants)', contents: "export { discoveryRequest, processDiscoveryResponse, authorizationCodeGrantRequest, processAuthorizationCodeResponse, refreshTokenGrantRequest, processRefreshTokenResponse, calculatePKCECodeChallenge, generateRandomCodeVerifier, validateAuthResponse } from 'oauth4webapi';", pkg: 'oauth4webapi' },
    { figure: 'anchor: ky (default export)', contents: "export { default } from 'ky';", pkg: 'ky' },
    { figure: 'anchor: zod/mini (one object schema)', contents: "import * as z from 'zod/mini'; export const s = z.looseObject({ a: z.string(), b: z.nullable(z.number()), c: z.record(z.string(), z.array(z.string())) });", pkg: 'zod' },
    { figure: 'anchor: jose (jwtVerify + remote JWKS)', contents: "export { jwtVerify, createRemoteJWKSet, decodeJwt } from 'jose';", pkg: 'jose' },
  ];
  const figures = [];
  for (const e of entries) {
    if (e.pkg && !has(e.pkg)) continue;
    const s = await size(e.contents);
    figures.push({ figure: e.figure, median: Number((s.gzip / 1000).toFixed(1)), spread: 0, unit: 'kB gzip', ...(e.goal ? { goal: e.goal } : {}), note: `${(s.min / 1000).toFixed(1)} kB minified; kB min by package: ${s.top}` });
  }
  return figures;
}
