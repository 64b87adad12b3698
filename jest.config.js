/**
 * Packages published only as ES modules, which jest (CommonJS here, on Node 20) cannot require:
 * ts-jest compiles them to CommonJS for the tests. Production needs none of this (Node >= 20.19
 * loads them with require(esm)). Add a package with its ESM-only dependencies.
 */
const ESM_ONLY_PACKAGES = [
  // @kubernetes/client-node 1.x and its ESM-only dependencies
  '@kubernetes/client-node', 'openid-client', 'oauth4webapi', 'jose', 'jsonpath-plus', '@jsep-plugin', 'jsep', 'rfc4648',
];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json' }],
    '^.+\\.m?js$': ['ts-jest', { tsconfig: { allowJs: true, module: 'commonjs', target: 'ES2022', esModuleInterop: true, isolatedModules: true }, diagnostics: false }],
  },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY_PACKAGES.join('|')})/)`],
  // Two cores here: bounded workers keep e2e timings honest.
  maxWorkers: 2,
  testTimeout: 30000,
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
};
