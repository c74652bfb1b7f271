import type { Config } from 'jest';

const config: Config = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/docs'],
  testMatch: ['**/*.test.ts'],
  transform: {
    // Type checking is `npm run typecheck`'s job; transpiling alone keeps the suite fast.
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: false }],
  },
  moduleNameMapper: {
    '^rxnet$': '<rootDir>/src/index.ts',
    '^rxnet/testing$': '<rootDir>/src/testing/index.ts',
    '^rxnet/cluster/(redis|nats)$': '<rootDir>/src/cluster/$1.ts',
    '^rxnet/metrics$': '<rootDir>/src/observability/metrics.ts',
    '^rxnet/otel$': '<rootDir>/src/observability/otel.ts',
  },
  testTimeout: 20000,
  // Some suites leave connections in their half-open or close timeouts when they end; once jest
  // has torn a suite's environment down, such a timer can fire after its own cancellation and
  // rxjs throws 'executing a cancelled action'. Exit once every test has run, and find the rest
  // with `npx jest --detectOpenHandles`.
  forceExit: true,
};

export default config;
