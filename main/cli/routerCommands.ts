/**
 * pcctl commands for a cloudlet's front-end router:
 *   router flows <cloudlet> --url   the flows its controller installed, beside the rules they come from
 */
import { parseArgs } from 'node:util';
import { UsageError, type Command } from './command.ts';
import { connectController } from './controllerCommands.ts';

const routerUsage = `usage: pcctl router flows <cloudlet> --url URL [--token TOKEN] [--json]

Shows the flows the cloudlet's controller installed in its front-end router
(OpenFlow table 0, the flows carrying its cookie) as the router reports them,
each beside the rule it comes from, and the flows the rule book asks for that
the router does not have. The token may also come from $PCLOUD_TOKEN.
`;

async function runRouter(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    strict: true,
    options: { url: { type: 'string' }, token: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean' } },
  });
  const [action, cloudletId] = positionals;
  if (values.help || !action) {
    process.stdout.write(routerUsage);
    return values.help ? 0 : 2;
  }
  if (action !== 'flows') throw new UsageError(`pcctl router: unknown action "${action}"\n\n${routerUsage}`);
  if (!cloudletId) throw new UsageError(`pcctl router flows: name the cloudlet\n\n${routerUsage}`);
  const client = await connectController('pcctl router flows', values, routerUsage);
  try {
    // The URL and the name must agree: flows shown under the wrong cloudlet's name would mislead.
    const info = await client.call('cloudlet.info', {});
    if (info.cloudletId !== cloudletId) {
      process.stderr.write(`pcctl router flows: ${values.url} is the controller of cloudlet ${info.cloudletId}, not ${cloudletId}\n`);
      return 1;
    }
    const table = await client.call('router.flows', {});
    if (values.json) {
      process.stdout.write(`${JSON.stringify(table, null, 2)}\n`);
      return table.ok ? 0 : 1;
    }
    const rows = [['PRIORITY', 'PACKETS', 'FLOW', 'RULE'], ...table.flows.map((f) => [String(f.priority), String(f.packets), f.flow, f.rule])];
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => (r[i] as string).length)));
    const line = (r: string[]): string => `${r.map((c, i) => (i < 3 ? c.padEnd(widths[i] as number) : c)).join('  ')}\n`;
    process.stdout.write(`cloudlet ${cloudletId}, ${table.router}: ${table.ok ? 'programmed as the rule book says' : table.problem}\n`);
    process.stdout.write(rows.map(line).join(''));
    if (table.missing.length) {
      process.stdout.write(`\nmissing from the router (${table.missing.length}):\n`);
      for (const m of table.missing) process.stdout.write(`  priority ${m.priority}  ${m.flow}  <- ${m.rule}\n`);
    }
    return table.ok ? 0 : 1;
  } finally {
    client.close();
  }
}

export const routerCommands: Record<string, Command> = {
  router: { summary: "a cloudlet's front-end router: its flows beside the rules they come from", run: runRouter },
};
