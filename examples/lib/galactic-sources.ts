/** The Galactic sources of the CTA + KM3NeT analysis (J2000, degrees), shared with the local Data Lake's datasets. */
export const SOURCES = [
  { name: 'RX J1713.7-3946', ra: 258.39, dec: -39.77 },
  { name: 'Vela Junior', ra: 133.0, dec: -46.37 },
  { name: 'HESS J1908+063', ra: 287.05, dec: 6.39 },
  { name: 'Galactic Centre', ra: 266.42, dec: -29.01 },
];
