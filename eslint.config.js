// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/**', 'docs/**', 'node_modules/**', 'coverage/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.{js,mjs,cjs}'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-this-alias': 'off',
    },
  },
  {
    // The isomorphic core: web-standard APIs only, nothing MV3 service workers forbid.
    files: ['src/core/**', 'src/rucio/**', 'src/esap/**', 'src/auth/**', 'src/staging/**', 'src/index.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*', 'fs', 'path', 'os', 'http', 'https', 'crypto', 'stream', 'msw', 'msw/*'], message: 'The core must use web-standard APIs only; put Node code in src/node.' }] }],
      'no-restricted-globals': ['error', 'window', 'document', 'localStorage', 'sessionStorage', 'process', 'Buffer', 'require'],
      'no-eval': 'error',
      'no-new-func': 'error',
      'no-restricted-syntax': ['error', { selector: 'ImportExpression', message: 'No dynamic import() in the core (forbidden in MV3 service workers).' }],
    },
  },
);
