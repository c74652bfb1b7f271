// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const noRxjsInternals = {
  group: ['rxjs/internal/*', 'rxjs/internal'],
  message: 'rxjs internals are not public API.',
};
const nodeBuiltins = [
  'assert',
  'buffer',
  'child_process',
  'crypto',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'stream',
  'string_decoder',
  'timers',
  'tls',
  'url',
  'util',
  'worker_threads',
];
const bareBuiltins = nodeBuiltins.map((name) => ({
  name,
  message: `Import Node built-ins as 'node:${name}'.`,
}));

/** Folder boundaries from docs/design.md: only src/net touches node:net; the pure core touches no stream. */
const restrict = (patterns, paths = []) => ({
  'no-restricted-imports': [
    'error',
    { paths: [...bareBuiltins, ...paths], patterns: [noRxjsInternals, ...patterns] },
  ],
});
const noNet = {
  group: ['**/net', '**/net/*'],
  message: 'Only src/net may depend on the socket edge.',
};
const noTransport = {
  group: ['**/transport', '**/transport/*'],
  message: 'The pure core never touches a Duplex.',
};
const noTesting = {
  group: ['**/testing', '**/testing/*'],
  message: 'Nothing in src depends on the testing kit.',
};
const noExamples = { group: ['**/examples/*'], message: 'src does not depend on examples.' };
const nodeNet = [
  { name: 'node:net', message: 'Only src/net imports node:net.' },
  { name: 'node:tls', message: 'Only src/net imports node:tls.' },
];
const nodeStream = [{ name: 'node:stream', message: 'The pure core never touches a stream.' }];

export default tseslint.config(
  {
    ignores: [
      'dist/**',
      'docs/api/**',
      'coverage/**',
      'node_modules/**',
      'bench/results/**',
      'test/fixtures/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['*.mjs'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      ...restrict([]),
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'error', ...restrict([noTesting, noExamples]) },
  },
  { files: ['src/transport/**/*.ts'], rules: restrict([noNet, noTesting, noExamples], nodeNet) },
  {
    files: ['src/framing/**/*.ts'],
    rules: restrict(
      [
        noNet,
        noTransport,
        noTesting,
        noExamples,
        {
          group: ['**/operators', '**/operators/*'],
          message: 'framing does not depend on operators.',
        },
      ],
      [...nodeNet, ...nodeStream],
    ),
  },
  {
    files: ['src/operators/**/*.ts'],
    rules: restrict([noNet, noTransport, noTesting, noExamples], [...nodeNet, ...nodeStream]),
  },
  { files: ['src/testing/**/*.ts'], rules: restrict([noNet, noExamples], nodeNet) },
  {
    files: ['test/**/*.ts', 'docs/**/*.ts', 'bench/**/*.ts', 'examples/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off' },
  },
  { files: ['**/*.mjs'], ...tseslint.configs.disableTypeChecked },
);
