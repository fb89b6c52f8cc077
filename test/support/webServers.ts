/**
 * The small servers and clients the web-cache and load-balancer tests run in their namespaces (as
 * `node -e` scripts), for the tap labs and the controller's data plane alike.
 */

/**
 * An origin on `address`:80 that serves one random body at /file, says its SHA-256 (with a
 * Last-Modified a day old, so squid may keep it) and prints one line per request it receives.
 */
export const originScript = (address: string): string => `
const http = require('node:http');
const body = require('node:crypto').randomBytes(200000);
const sha = require('node:crypto').createHash('sha256').update(body).digest('hex');
http.createServer((req, res) => {
  process.stdout.write('request ' + req.method + ' ' + req.url + '\\n');
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'last-modified': new Date(Date.now() - 86400000).toUTCString() });
  res.end(body);
}).listen(80, '${address}', () => process.stdout.write('listening ' + sha + '\\n'));
`;

/** The shell command that fetches http://`address`/file with curl, headers and body in base64 on one line. */
export const fetchCommand = (address: string): string => `curl -s -m 10 -D - -o /dev/stdout http://${address}/file | base64 -w0; echo`;

/** fetchCommand's output as the response's header block and body. */
export function parseFetch(out: string): { status: string; body: Buffer } {
  const all = Buffer.from(out.trim(), 'base64');
  const split = all.indexOf('\r\n\r\n');
  return { status: all.subarray(0, split).toString(), body: all.subarray(split + 4) };
}

/** A backend on `address`:8080 that answers each connection with its address, and says so on stdout. */
export const backendScript = (address: string): string => `
require('node:net').createServer((s) => { process.stdout.write('conn\\n'); s.end('${address}\\n'); })
  .listen(8080, '${address}', () => process.stdout.write('listening\\n'));
`;

/** `n` connections to `address`:`port`, one after another: prints the backend that answered each (or the failure). */
export const connectScript = (address: string, port: number, n: number): string => `
const one = () => new Promise((res) => {
  const s = require('node:net').connect(${port}, '${address}');
  let out = '';
  s.on('data', (d) => (out += d));
  s.on('end', () => res(out.trim() || 'empty'));
  s.on('error', (e) => res('error ' + e.code));
  s.setTimeout(5000, () => { s.destroy(); res('timeout'); });
});
(async () => { for (let i = 0; i < ${n}; i++) process.stdout.write((await one()) + '\\n'); })();
`;

/** connectScript's output as a tally: answer -> how many connections got it. */
export function tallyAnswers(out: string): Map<string, number> {
  const tally = new Map<string, number>();
  for (const answer of out.split('\n').filter(Boolean)) tally.set(answer, (tally.get(answer) ?? 0) + 1);
  return tally;
}
