/** The embedded local Data Lake: it lives in src/lake/local-lake.ts, where `dlaas lake` runs it too. */
export * from '../../src/lake/local-lake.ts';
