// Size budgets of issue #7 (min+gzip, browser ESM, all dependencies included) against the shipped
// build, with what costs the bytes. Run by `npm run check:size` after size-limit, which enforces the
// ceilings in .size-limit.json. Usage: node test/package/size-report.mjs   (Node ≥ 24: imports .ts)
import { gzipSync } from 'node:zlib';
import { bytesBySource } from './bundle-bytes.ts';

// The budgets, in size-limit's units (1 kB = 1000 bytes).
const BUDGETS = [
  { name: 'rucio + esap', entry: "import { RucioClient, EsapClient } from './dist/index.js'; console.log(RucioClient, EsapClient);", budget: 20_000 },
  { name: 'whole core (rucio, esap, auth, staging)', entry: "export * from './dist/index.js';", budget: 45_000 },
];

/** Which part of the SDK or which dependency an original source belongs to. */
function partOf(source) {
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(source);
  if (pkg) return `dep ${pkg[1]}`;
  const own = /\/src\/([^/]+?)(?:\/|\.ts$)/.exec(source);
  return own ? `src/${own[1]}` : source;
}

const kB = (n) => `${(n / 1000).toFixed(2)} kB`;
const gz = (s) => gzipSync(s, { level: 9 }).length;
const lines = ['', 'Size budgets (issue #7): min+gzip, browser ESM of dist/ with every dependency (esbuild here; size-limit measures the same with rolldown)'];
let over = 0;
for (const b of BUDGETS) {
  const { code, bySource } = await bytesBySource(b.entry);
  const total = gz(code);
  const status = total <= b.budget ? 'met' : `NOT MET (over by ${kB(total - b.budget)})`;
  if (total > b.budget) over++;
  lines.push('', `${b.name}: ${kB(total)} of ${kB(b.budget)} budget: ${status}`);
  // Per part: minified bytes (exact, from the source maps) and its proportional share of the gzip size.
  const parts = new Map();
  for (const [source, bytes] of bySource) {
    const p = partOf(source);
    parts.set(p, (parts.get(p) ?? 0) + bytes);
  }
  const minTotal = Buffer.byteLength(code);
  for (const [part, bytes] of [...parts].sort((x, y) => y[1] - x[1])) {
    lines.push(`  ${part.padEnd(22)} ${String(bytes).padStart(7)} B min  ${((100 * bytes) / minTotal).toFixed(1).padStart(5)} %  ≈ ${kB((total * bytes) / minTotal)} gz`);
  }
}
if (over) lines.push('', `${over} budget(s) not met: the enforced limits in .size-limit.json are regression ceilings at today's size, not the budgets (see issue #7).`);
console.log(lines.join('\n'));
