/**
 * The one build configuration. Three outputs, chosen by --mode:
 *   (default)  renderer/ -> dist/renderer   (the Vue app, served by the app:// scheme or the headless host)
 *   main       main/     -> dist/main        (Electron shell, headless host, pcctl; Node ESM)
 *   preload    preload/  -> dist/preload     (CommonJS: a sandboxed preload cannot be an ES module)
 * The `test` block configures vitest for the whole repository.
 */
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig, type UserConfig } from 'vite';
import vue from '@vitejs/plugin-vue';
import pkg from './package.json' with { type: 'json' };

const root = fileURLToPath(new URL('.', import.meta.url));

// Everything Node or npm provides stays external in main and preload bundles.
const nodeExternals = [
  'electron',
  ...builtinModules,
  ...builtinModules.map((m) => `node:${m}`),
  ...Object.keys(pkg.dependencies),
].map((name) => new RegExp(`^${name.replace(/[/\\^$.*+?()[\]{}|]/g, '\\$&')}(/.*)?$`));

function mainConfig(): UserConfig {
  return {
    build: {
      outDir: 'dist/main',
      emptyOutDir: true,
      target: 'node22',
      ssr: true,
      sourcemap: true,
      minify: false,
      rolldownOptions: {
        input: {
          shell: 'main/shell/main.ts',
          headless: 'main/console/headlessMain.ts',
          pcctl: 'main/cli/pcctl.ts',
          // The built-in services a controller runs inside VIs, each as its own program.
          monitor: 'main/services/monitor.ts',
          forward: 'main/services/forward.ts',
          ids: 'main/services/ids.ts',
          'web-cache': 'main/services/web-cache.ts',
          'load-balancer': 'main/services/load-balancer.ts',
          'aes-encrypt': 'main/services/aes-encrypt.ts',
          'ipsec-tunnel': 'main/services/ipsec-tunnel.ts',
          'wan-optimizer': 'main/services/wan-optimizer.ts',
        },
        external: nodeExternals,
        output: { format: 'es', entryFileNames: '[name].js', chunkFileNames: 'chunks/[name]-[hash].js' },
      },
    },
  };
}

function preloadConfig(): UserConfig {
  return {
    build: {
      outDir: 'dist/preload',
      emptyOutDir: true,
      target: 'node22',
      ssr: true,
      minify: false,
      rolldownOptions: {
        input: { preload: 'preload/index.ts' },
        external: ['electron'],
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
    ssr: { noExternal: true },
  };
}

/**
 * The renderer in a few chunks, each loaded once and cached: the app, Vue and
 * Pinia, cytoscape (the topology graph) and xterm (terminals). One bundle
 * held all of them and passed the bundler's size warning; cytoscape alone is
 * about 450 kB minified, so its chunk gets its own limit.
 */
function rendererConfig(): UserConfig {
  return {
    root: 'renderer',
    base: './',
    build: {
      outDir: '../dist/renderer',
      emptyOutDir: true,
      target: 'chrome130',
      chunkSizeWarningLimit: 600,
      rolldownOptions: {
        // Timings of slow plugins are for whoever tunes the build, not for someone starting the console.
        checks: { bundlerTimings: false },
        output: {
          codeSplitting: {
            groups: [
              { name: 'cytoscape', test: /node_modules[\\/]cytoscape/ },
              { name: 'xterm', test: /node_modules[\\/]@xterm/ },
              { name: 'vue', test: /node_modules[\\/](@vue|vue|pinia)[\\/]/ },
            ],
          },
        },
      },
    },
  };
}

export default defineConfig(({ mode }) => {
  const chosen = mode === 'main' ? mainConfig() : mode === 'preload' ? preloadConfig() : rendererConfig();
  return {
    ...chosen,
    plugins: [vue()],
    test: {
      root,
      projects: [
        {
          extends: true,
          test: {
            name: 'node',
            environment: 'node',
            include: ['main/**/*.test.ts', 'native/**/*.test.ts', 'test/unit/**/*.test.ts'],
            testTimeout: 60_000,
            hookTimeout: 60_000,
          },
        },
        {
          extends: true,
          test: {
            name: 'renderer',
            environment: 'happy-dom',
            include: ['renderer/**/*.test.ts'],
          },
        },
        {
          extends: true,
          test: {
            name: 'system',
            environment: 'node',
            include: ['test/system/**/*.test.ts'],
            testTimeout: 300_000,
            hookTimeout: 300_000,
            fileParallelism: false,
          },
        },
      ],
    },
  };
});
