// Lint rules, including the layer boundaries of DESIGN.md section 3, which
// fail the lint when crossed:
//   - only main/shell/ and preload/ import 'electron';
//   - renderer/ imports nothing from Node or main/, except types from main/protocol/ and the
//     shared values of main/protocol/vocabulary.ts;
//   - product code (main/, native/*.ts) imports nothing from test/ or native/test/;
//   - inside renderer/: stores import no components, and components and views
//     reach the backend only through stores (and composables), never api/ itself;
//   - preload/ imports nothing but 'electron' and the contract (main/protocol/).
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import vue from 'eslint-plugin-vue';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const nodeModules = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const electronOutsideShell = { name: 'electron', message: "Only main/shell/ and preload/ may import 'electron' (DESIGN.md section 3)." };

/** The renderer's import rule, with the extra patterns of one of its layers. */
function rendererImports(extraPatterns = []) {
  return [
    'error',
    {
      paths: [
        electronOutsideShell,
        ...nodeModules.map((name) => ({ name, message: 'The renderer runs in a browser sandbox: go through renderer/api/.' })),
        ...['better-sqlite3', 'node-pty', 'ws'].map((name) => ({ name, message: 'Node-only package: the renderer reaches it through renderer/api/.' })),
      ],
      patterns: [
        { regex: '(^|/)main/(?!protocol/)', message: 'The renderer imports nothing from main/ except types from main/protocol/.' },
        {
          regex: '(^|/)main/protocol/(?!vocabulary(\\.ts)?$)',
          allowTypeImports: true,
          message: 'Only types may come from main/protocol/ into the renderer, and values from main/protocol/vocabulary.ts.',
        },
        { regex: '(^|/)native/', message: 'The renderer cannot load native code.' },
        ...extraPatterns,
      ],
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'release/**', 'node_modules/**', '.tools/**', 'native/build/**', 'test-results/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  ...vue.configs['flat/recommended'],
  {
    files: ['**/*.vue'],
    languageOptions: { parserOptions: { parser: tseslint.parser, extraFileExtensions: ['.vue'] } },
  },
  {
    languageOptions: { ecmaVersion: 2024, sourceType: 'module', globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'vue/multi-word-component-names': 'off',
      'vue/max-attributes-per-line': 'off',
      'vue/singleline-html-element-content-newline': 'off',
      'vue/html-self-closing': 'off',
      'vue/html-indent': 'off',
      'vue/html-closing-bracket-newline': 'off',
      'vue/multiline-html-element-content-newline': 'off',
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [electronOutsideShell] }],
    },
  },
  {
    // CommonJS files (test hooks loaded with node --require) use require by nature.
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // Product code runs from an installed app, where test/ does not exist.
    files: ['main/**', 'native/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: [electronOutsideShell], patterns: [{ regex: '(^|/)test/', message: 'Product code imports nothing from test/ or native/test/: move what it needs into the product.' }] },
      ],
    },
  },
  {
    files: ['main/shell/**'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' },
  },
  {
    files: ['preload/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: '^(?!electron$|\\.\\./main/protocol/)',
              message: "preload/ imports only 'electron' and the contract in main/protocol/.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ['renderer/**'],
    languageOptions: { globals: { ...globals.browser } },
    rules: { '@typescript-eslint/no-restricted-imports': rendererImports() },
  },
  {
    files: ['renderer/stores/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rendererImports([
        { regex: '(^|/)components/', message: 'Stores import no components: put shared logic beside the composables (renderer/composables/).' },
      ]),
    },
  },
  {
    // Tests may set up a fake bridge; the components and views themselves may not call it.
    files: ['renderer/components/**', 'renderer/views/**', 'renderer/App.vue'],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': rendererImports([
        { regex: '(^|/)api/relay\\.ts$', message: 'Components and views get data through stores (renderer/stores/), not by calling the backend.' },
        { regex: '(^|/)api/(index\\.ts)?$', importNames: ['useApi'], message: 'Components and views get data through stores (renderer/stores/), not by calling the backend.' },
      ]),
    },
  },
);
