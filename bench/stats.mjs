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
