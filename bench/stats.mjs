import { readFileSync } from 'node:fs';
// Median and relative spread ((max - min) / median) of repeated measurements.
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function spread(xs) {
  if (xs.length < 2) return 0;
  const m = median(xs);
  return m === 0 ? 0 : Number(((Math.max(...xs) - Math.min(...xs)) / m).toFixed(3));
}

/**
 * This process's peak resident set (VmHWM), in MiB. Not `process.resourceUsage().maxRSS`: Linux keeps
 * that high-water mark across exec, so a child spawned by a large parent would report the parent's.
 */
export function peakRssMiB() {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) / 1024 : process.resourceUsage().maxRSS / 1024;
}
