/** The DAC21 datasets of the embedded local Data Lake: they live in src/lake/datasets.ts (`dlaas lake` seeds them too). */
export * from '../../src/lake/datasets.ts';
