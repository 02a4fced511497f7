/**
 * The DAC21 use-case datasets the embedded local Data Lake is seeded with: small, generated, but
 * real data the examples compute on (LOFAR visibilities, CMS dimuon events, ATLAS open-data files,
 * CTA and KM3NeT event lists).
 * @module
 */
// The generators are the examples' own (bundled into the CLI): the data is what they compute on.
import { SOURCES as GALACTIC_SOURCES } from '../../examples/lib/galactic-sources.ts';
import { FIELD_3C196, rng, simulateObservation } from '../../examples/lib/lofar-imaging.ts';

/** A dataset to seed. */
export interface DatasetSeed {
  scope: string;
  name: string;
  rse: string;
  files: { name: string; content: Uint8Array | string }[];
  meta?: Record<string, unknown>;
  /** What it is, for the demo's description of the lake. */
  title: string;
}

function gaussFrom(random: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/** CMS: opposite-sign muon pairs, Z → μμ over an exponential Drell–Yan background. */
function dimuonCsv(seed: number, events: number): string {
  const random = rng(seed);
  const gauss = gaussFrom(random);
  const lines = ['run,event,pt1,eta1,phi1,q1,pt2,eta2,phi2,q2'];
  for (let e = 0; e < events; e++) {
    // Breit–Wigner around the Z (91.19 GeV, Γ 2.5 GeV) for 70 %, falling background for the rest.
    const mass = random() < 0.7 ? 91.1876 + 1.25 * Math.tan(Math.PI * (random() - 0.5)) : 60 + -25 * Math.log(1 - random() * 0.9);
    if (!(mass > 50 && mass < 150)) {
      e--;
      continue;
    }
    const eta1 = 2.2 * (2 * random() - 1);
    const eta2 = 2.2 * (2 * random() - 1);
    const phi1 = Math.PI * (2 * random() - 1);
    const phi2 = Math.PI * (2 * random() - 1);
    const pt1 = 25 + 30 * random();
    const denom = 2 * pt1 * (Math.cosh(eta1 - eta2) - Math.cos(phi1 - phi2));
    const pt2 = (mass * mass) / denom;
    if (!(pt2 > 5 && pt2 < 500)) {
      e--;
      continue;
    }
    const q = random() < 0.5 ? 1 : -1;
    const smear = 1 + 0.01 * gauss();
    lines.push([194_050 + (seed % 7), 1_000_000 + seed * 10_000 + e, (pt1 * smear).toFixed(3), eta1.toFixed(4), phi1.toFixed(4), q, pt2.toFixed(3), eta2.toFixed(4), phi2.toFixed(4), -q].join(','));
  }
  return `${lines.join('\n')}\n`;
}

/** CTA DL3-like gamma-ray event lists / KM3NeT track lists around the four sources. */
function eventsCsv(seed: number, kind: 'gamma' | 'neutrino'): string {
  const random = rng(seed);
  const gauss = gaussFrom(random);
  const lines = ['event_id,energy_tev,ra,dec'];
  let id = 0;
  GALACTIC_SOURCES.forEach((src, s) => {
    const signal = kind === 'gamma' ? [420, 260, 180, 300][s]! : [9, 4, 3, 6][s]!;
    const background = kind === 'gamma' ? 900 : 60;
    const psf = kind === 'gamma' ? 0.12 : 0.6;
    const cos = Math.cos((src.dec * Math.PI) / 180);
    for (let i = 0; i < background; i++) {
      const ra = src.ra + ((random() - 0.5) * 6) / cos;
      const dec = src.dec + (random() - 0.5) * 6;
      lines.push(`${id++},${(0.1 * Math.pow(1 - random(), -1 / 1.7)).toFixed(4)},${ra.toFixed(4)},${dec.toFixed(4)}`);
    }
    for (let i = 0; i < signal; i++) {
      const ra = src.ra + (psf * gauss()) / cos;
      const dec = src.dec + psf * gauss();
      lines.push(`${id++},${(0.3 * Math.pow(1 - random(), -1 / 1.2)).toFixed(4)},${ra.toFixed(4)},${dec.toFixed(4)}`);
    }
  });
  return `${lines.join('\n')}\n`;
}

/** Opaque bytes standing in for ROOT files (the `root` magic, then pseudo-random payload). */
function rootLike(seed: number, size: number): Uint8Array {
  const random = rng(seed);
  const out = new Uint8Array(size);
  out.set(new TextEncoder().encode('root'), 0);
  for (let i = 4; i < size; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/** Every dataset of the local lake. */
export function dac21Datasets(): DatasetSeed[] {
  return [
    {
      title: `LOFAR HBA observation of ${FIELD_3C196.target}, 4 subbands of calibrated visibilities`,
      scope: 'lofar',
      name: 'L802012_3C196',
      rse: 'SARA-DCACHE',
      files: simulateObservation({ observation: 'L802012', subbands: 4, perSubband: 600 }),
      meta: { project: 'LOFAR_LTA', datatype: 'uv', run_number: 802012 },
    },
    {
      title: 'CMS DoubleMuParked 2012B, dimuon events (CSV)',
      scope: 'cms',
      name: 'Run2012B_DoubleMuParked_dimuon',
      rse: 'PIC-DCACHE',
      files: [0, 1, 2].map((i) => ({ name: `Run2012B_DoubleMuParked_dimuon_${i}.csv`, content: dimuonCsv(100 + i, 1500) })),
      meta: { project: 'Run2012B', datatype: 'NANOAOD' },
    },
    {
      title: 'ATLAS open data 13 TeV, 2-lepton skim',
      scope: 'ATLAS_OD_EDU',
      name: 'data16_13TeV_2lep',
      rse: 'CERN-EOS',
      files: ['A', 'B', 'C', 'D'].map((p, i) => ({ name: `data_${p}.2lep.root`, content: rootLike(300 + i, 24_000 + i * 4_000) })),
      meta: { project: 'data16_13TeV', datatype: 'DAOD' },
    },
    {
      title: 'CTA DAC21 Galactic-plane DL3 event lists',
      scope: 'cta',
      name: 'dac21_gps_dl3',
      rse: 'PIC-DCACHE',
      files: [0, 1].map((i) => ({ name: `dac21_gps_events_run${String(i + 1).padStart(3, '0')}.csv`, content: eventsCsv(500 + i, 'gamma') })),
      meta: { project: 'DAC21', datatype: 'DL3' },
    },
    {
      title: 'KM3NeT ARCA DAC21 neutrino tracks',
      scope: 'km3net',
      name: 'dac21_arca_tracks',
      rse: 'SARA-DCACHE',
      files: [{ name: 'dac21_arca_tracks_2021.csv', content: eventsCsv(600, 'neutrino') }],
      meta: { project: 'DAC21', datatype: 'DST' },
    },
  ];
}
