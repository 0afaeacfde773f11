import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/*
 * Import boundaries. The folders of src, from the bottom up: a folder imports
 * only from itself and the folders before it, so no two folders import each
 * other (no folder cycle). Relative imports only (the code base has no
 * aliases), matched by how many `../` reach src from the importing file.
 */
const LAYERS = ['util', 'routes', 'state', 'manifest', 'dlp', 'plan', 'supervise', 'sidecars', 'provision', 'containment', 'launch', 'backends', 'cli'];

/* Known crossings, each with its way out. Nothing else may be added here without one. */
const CROSSINGS = [
];

/* Cycles between files of one folder that were broken once. */
const FILE_RULES = {
  'src/plan/codex-provider.ts': [{ regex: '^\\./providers\\.js$', message: 'providers.ts imports the providers; shared types live in contribution.ts' }],
  'src/plan/claude.ts': [{ regex: '^\\./providers\\.js$', message: 'providers.ts imports the providers; shared types live in contribution.ts' }],
};

function layerPatterns(file, allow = []) {
  const [, layer, ...rest] = file.split('/');
  const depth = rest.length;
  const above = LAYERS.slice(LAYERS.indexOf(layer) + 1).filter((l) => !allow.includes(l));
  const patterns = [...(FILE_RULES[file] ?? [])];
  if (above.length > 0) {
    patterns.push({
      regex: `^${'\\.\\./'.repeat(depth)}(${above.join('|')})(/|$)`,
      message: `src/${layer} sits below ${above.join(', ')} (LAYERS in eslint.config.js): import the other way round, or move the shared piece down.`,
    });
  }
  return patterns.length > 0 ? ['error', { patterns }] : 'off';
}

const boundaries = [
  ...LAYERS.flatMap((layer) => ['*', '*/*'].map((glob) => ({ files: [`src/${layer}/${glob}.ts`, `src/${layer}/${glob}.tsx`], rules: { 'no-restricted-imports': layerPatterns(`src/${layer}/${glob}`) } }))),
  ...CROSSINGS.flatMap(({ files, allow }) => files.map((file) => ({ files: [file], rules: { 'no-restricted-imports': layerPatterns(file, allow) } }))),
  ...Object.keys(FILE_RULES).map((file) => ({ files: [file], rules: { 'no-restricted-imports': layerPatterns(file, CROSSINGS.find((c) => c.files.includes(file))?.allow) } })),
];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '**/*.mjs', '**/*.js', 'src/dlp/wasm/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Daemons must never drop a rejected promise silently.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  ...boundaries,
  {
    files: ['tests/**', 'bench/**'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
