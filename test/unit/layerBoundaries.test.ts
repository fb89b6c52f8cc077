// The layer rules of DESIGN.md section 3 live in eslint.config.js; this proves
// they bite, by linting small probe files placed (virtually) in each layer.
import { ESLint } from 'eslint';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const eslint = new ESLint({ cwd: root });

async function restrictedImports(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${file}` });
  return (result?.messages ?? []).filter((m) => m.ruleId === '@typescript-eslint/no-restricted-imports').map((m) => m.message);
}

describe('layer boundaries fail the lint', () => {
  test("only main/shell/ may import 'electron' among main/", async () => {
    const code = "import { app } from 'electron';\nexport const a = app;\n";
    expect(await restrictedImports('main/console/probe.ts', code)).toHaveLength(1);
    expect(await restrictedImports('main/scheduler/probe.ts', code)).toHaveLength(1);
    expect(await restrictedImports('main/shell/probe.ts', code)).toHaveLength(0);
  });

  test('the renderer may not import Node, Node-only packages, or values from main/', async () => {
    expect(await restrictedImports('renderer/probe.ts', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n")).toHaveLength(1);
    expect(await restrictedImports('renderer/probe.ts', "import Database from 'better-sqlite3';\nexport const d = Database;\n")).toHaveLength(1);
    expect(await restrictedImports('renderer/probe.ts', "import { defaultDataDir } from '../main/console/dataDir.ts';\nexport const d = defaultDataDir;\n")).toHaveLength(1);
    expect(await restrictedImports('renderer/probe.ts', "import { consoleApi } from '../main/protocol/consoleApi.ts';\nexport const c = consoleApi;\n")).toHaveLength(1);
  });

  test('the renderer may import types from main/protocol/', async () => {
    expect(await restrictedImports('renderer/probe.ts', "import type { AppInfo } from '../main/protocol/consoleApi.ts';\nexport type A = AppInfo;\n")).toHaveLength(0);
  });

  test('the renderer may import values from main/protocol/vocabulary.ts, and that module imports nothing', async () => {
    expect(await restrictedImports('renderer/probe.ts', "import { holdingStates } from '../main/protocol/vocabulary.ts';\nexport const h = holdingStates;\n")).toHaveLength(0);
    expect(await restrictedImports('renderer/stores/probe.ts', "import { resourceNames } from '../../main/protocol/vocabulary';\nexport const r = resourceNames;\n")).toHaveLength(0);
    // A look-alike name is still refused.
    expect(await restrictedImports('renderer/probe.ts', "import { x } from '../main/protocol/vocabularyExtra.ts';\nexport const h = x;\n")).toHaveLength(1);
    const source = readFileSync(`${root}main/protocol/vocabulary.ts`, 'utf8');
    expect(source).not.toMatch(/^\s*import\s/m);
  });

  test('renderer stores import no components', async () => {
    const code = "import { overlays } from '../components/topology/overlays/overlayRegistry.ts';\nexport const o = overlays;\n";
    expect(await restrictedImports('renderer/stores/probe.ts', code)).toHaveLength(1);
    expect(await restrictedImports('renderer/stores/probe.ts', "import { healthOf } from '../composables/topology/health.ts';\nexport const h = healthOf;\n")).toHaveLength(0);
  });

  test('renderer components and views reach the backend through stores, not api/', async () => {
    const relay = "import { schedulerCall } from '../../api/relay.ts';\nexport const s = schedulerCall;\n";
    const bridge = "import { useApi } from '../api/index.ts';\nexport const u = useApi;\n";
    expect(await restrictedImports('renderer/components/reservations/probe.ts', relay)).toHaveLength(1);
    expect(await restrictedImports('renderer/views/probe.ts', bridge)).toHaveLength(1);
    expect(await restrictedImports('renderer/views/probe.ts', "import { toApiError } from '../api/index.ts';\nexport const t = toApiError;\n")).toHaveLength(0);
    expect(await restrictedImports('renderer/stores/probe.ts', "import { schedulerCall } from '../api/relay.ts';\nexport const s = schedulerCall;\n")).toHaveLength(0);
    // The layer rules still hold there.
    expect(await restrictedImports('renderer/views/probe.ts', "import { readFileSync } from 'node:fs';\nexport const f = readFileSync;\n")).toHaveLength(1);
  });

  test("preload/ imports only 'electron' and the contract", async () => {
    expect(await restrictedImports('preload/probe.ts', "import { spawn } from 'node:child_process';\nexport const s = spawn;\n")).toHaveLength(1);
    expect(await restrictedImports('preload/probe.ts', "import { TerminalSessions } from '../main/console/terminals.ts';\nexport const t = TerminalSessions;\n")).toHaveLength(1);
    expect(await restrictedImports('preload/probe.ts', "import { ipcRenderer } from 'electron';\nimport { consoleApi } from '../main/protocol/consoleApi.ts';\nexport const x = [ipcRenderer, consoleApi];\n")).toHaveLength(0);
  });
});
