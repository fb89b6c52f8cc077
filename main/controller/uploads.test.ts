// Provider bundles: every kind of bad bundle is refused with a message that
// names the problem and the member, before anything is written; a good one
// (also one made by GNU tar) is unpacked with safe modes and gives the
// command line the supervisor runs; a new upload replaces the old at once.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { tarArchive, type TarMember } from '../../test/support/tarBundle.ts';
import { UploadStore } from './uploads.ts';

const manifest = (command: unknown = ['./run.sh']): TarMember => ({ name: 'manifest.json', data: JSON.stringify({ command }) });
const run: TarMember = { name: 'run.sh', mode: 0o755, data: '#!/bin/sh\nid -u\n' };

let dir: string;
let store: UploadStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pcloud-uploads-'));
  store = new UploadStore(dir, { bundleBytes: 64 * 1024, unpackedBytes: 128 * 1024, members: 20 });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('a bad bundle is refused, saying what is wrong and where', () => {
  const cases: [string, Buffer, string][] = [
    ['too big', Buffer.alloc(65 * 1024), 'bundle refused: it is 66560 bytes; at most 65536 bytes are accepted'],
    ['not tar', Buffer.from('hello'), 'bundle refused: not a tar archive: 5 bytes is not a whole number of 512-byte blocks'],
    ['bad checksum', (() => {
      const a = tarArchive([manifest(), run]);
      a[1027] = 0x5a; // the second header's name, after its checksum was written
      return a;
    })(), 'bundle refused: not a tar archive: the header at byte 1024 has a bad checksum'],
    ['traversal', tarArchive([manifest(), run, { name: '../escape.txt', data: 'x' }]), 'bundle refused: member "../escape.txt": its path leaves the bundle (absolute paths and ".." are refused)'],
    ['traversal inside', tarArchive([manifest(), run, { name: 'lib/../../x', data: 'x' }]), 'bundle refused: member "lib/../../x": its path leaves the bundle (absolute paths and ".." are refused)'],
    ['absolute path', tarArchive([manifest(), run, { name: '/etc/cron.d/x', data: 'x' }]), 'bundle refused: member "/etc/cron.d/x": its path leaves the bundle (absolute paths and ".." are refused)'],
    ['link out', tarArchive([manifest(), run, { name: 'passwd', type: '2', linkname: '/etc/passwd' }]), 'bundle refused: member "passwd": a symbolic link to "/etc/passwd", which is outside the bundle'],
    ['relative link out', tarArchive([manifest(), run, { name: 'lib/up', type: '2', linkname: '../../state' }]), 'bundle refused: member "lib/up": a symbolic link to "../../state", which is outside the bundle'],
    ['hard link', tarArchive([manifest(), run, { name: 'shadow', type: '1', linkname: 'run.sh' }]), 'bundle refused: member "shadow": a hard link; hard links are refused (store the file itself)'],
    ['char device', tarArchive([manifest(), run, { name: 'dev/mem', type: '3' }]), 'bundle refused: member "dev/mem": a character device; device files, FIFOs and other special files are refused'],
    ['block device', tarArchive([manifest(), run, { name: 'sda', type: '4' }]), 'bundle refused: member "sda": a block device; device files, FIFOs and other special files are refused'],
    ['fifo', tarArchive([manifest(), run, { name: 'pipe', type: '6' }]), 'bundle refused: member "pipe": a FIFO; device files, FIFOs and other special files are refused'],
    ['set-uid', tarArchive([manifest(), { ...run, mode: 0o4755 }]), 'bundle refused: member "run.sh": its mode 4755 is set-uid or set-gid; such files are refused'],
    ['set-gid', tarArchive([manifest(), run, { name: 'tool', mode: 0o2755, data: 'x' }]), 'bundle refused: member "tool": its mode 2755 is set-uid or set-gid; such files are refused'],
    ['no manifest', tarArchive([run]), 'bundle refused: no manifest.json at the top of the bundle (it names the command to run, e.g. {"command": ["./run.sh"]})'],
    ['manifest not json', tarArchive([{ name: 'manifest.json', data: '{command' }, run]), expect.stringMatching(/^bundle refused: manifest\.json is not JSON: /) as unknown as string],
    ['manifest without command', tarArchive([manifest('run.sh'), run]), 'bundle refused: manifest.json: "command" must be a list of 1 to 64 non-empty strings, the first a file of the bundle'],
    ['command not in bundle', tarArchive([manifest(['/bin/sh', '-c', 'id']), run]), 'bundle refused: member "/bin/sh": its path leaves the bundle (absolute paths and ".." are refused)'],
    ['command missing', tarArchive([manifest(['./start']), run]), 'bundle refused: manifest.json: the command "./start" is not a file of the bundle'],
    ['command not executable', tarArchive([manifest(), { ...run, mode: 0o644 }]), 'bundle refused: manifest.json: the command "./run.sh" is not executable (mode 644)'],
    ['too many members', tarArchive([manifest(), run, ...Array.from({ length: 20 }, (_, i) => ({ name: `f${i}`, data: 'x' }))]), 'bundle refused: it has more than 20 members'],
  ];

  test.each(cases)('%s', (_name, archive, message) => {
    expect(() => store.put('r1', archive)).toThrow(expect.objectContaining({ message }));
    // Nothing was written for it.
    expect(store.commandFor('r1')).toBeUndefined();
  });

  test('the unpacked total is bounded apart from the archive size', () => {
    const small = new UploadStore(dir, { bundleBytes: 1024 * 1024, unpackedBytes: 1000, members: 20 });
    expect(() => small.put('r1', tarArchive([manifest(), run, { name: 'big', data: Buffer.alloc(2000) }]))).toThrow('bundle refused: its files add up to more than 1000 bytes');
  });

  test('a reservation id that is not a plain name is refused', () => {
    expect(() => store.put('../r1', tarArchive([manifest(), run]))).toThrow('reservation id "../r1" cannot name an upload');
  });
});

describe('a good bundle', () => {
  test('is unpacked with its links inside, without write or special bits for anyone but the controller, and gives the command line', () => {
    const view = store.put('r1', tarArchive([manifest(['./bin/run.sh', '--verbose']), { name: 'bin/', type: '5' }, { ...run, name: 'bin/run.sh', mode: 0o777 }, { name: 'data.txt', mode: 0o666, data: 'hello' }, { name: 'bin/data', type: '2', linkname: '../data.txt' }]));
    expect(view).toMatchObject({ reservationId: 'r1', files: 3, command: ['bin/run.sh', '--verbose'] });
    const cmd = store.commandFor('r1');
    expect(cmd?.command).toEqual([join(dir, 'uploads', 'r1', 'files', 'bin', 'run.sh'), '--verbose']);
    const files = cmd?.dir ?? '';
    expect(lstatSync(join(files, 'bin', 'run.sh')).mode & 0o7777).toBe(0o755);
    expect(lstatSync(join(files, 'data.txt')).mode & 0o7777).toBe(0o644);
    expect(readlinkSync(join(files, 'bin', 'data'))).toBe('../data.txt');
    expect(readFileSync(join(files, 'bin', 'data'), 'utf8')).toBe('hello');
  });

  test('made by GNU tar is accepted; a second upload replaces the first', () => {
    const src = join(dir, 'src');
    mkdirSync(join(src, 'lib'), { recursive: true });
    writeFileSync(join(src, 'manifest.json'), JSON.stringify({ command: ['./start.sh'] }));
    writeFileSync(join(src, 'start.sh'), '#!/bin/sh\necho started\n', { mode: 0o755 });
    writeFileSync(join(src, 'lib', `${'long-name-'.repeat(12)}.txt`), 'a name longer than 100 bytes needs a GNU or pax header');
    const archive = execFileSync('tar', ['-C', src, '-cf', '-', '.']);
    store.put('r2', tarArchive([manifest(), run]));
    expect(store.put('r2', archive)).toMatchObject({ command: ['start.sh'], files: 3 });
    expect(execFileSync(store.commandFor('r2')?.command[0] ?? '', { encoding: 'utf8' })).toBe('started\n');
    store.remove('r2');
    expect(store.commandFor('r2')).toBeUndefined();
  });
});
