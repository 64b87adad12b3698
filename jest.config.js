/*
 * ESM-only packages (`"type": "module"`: @octokit/*, @kubernetes/client-node, the CEL evaluator @marcbachmann/cel-js and their ESM
 * dependencies) are compiled to CommonJS by ts-jest: jest on Node 20 cannot require(esm), which
 * production Node (>= 20.19) can.
 */
const esmOnly = ['@octokit', '@marcbachmann/cel-js', 'universal-user-agent', 'universal-github-app-jwt', 'before-after-hook', 'toad-cache',
  'content-type', 'json-with-bigint', 'fast-content-type-parse', '@kubernetes/client-node', 'openid-client',
  'oauth4webapi', 'jose', 'jsonpath-plus', '@jsep-plugin', 'jsep', 'rfc4648'];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    '^.+\\.m?js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true, isolatedModules: true }, diagnostics: false }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  // Two cores here: bounded workers keep e2e timings honest.
  maxWorkers: 2,
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
