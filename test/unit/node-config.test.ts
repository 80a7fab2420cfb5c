// Node config validation: every problem names the field.

import { it, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { loadNodeConfig, parseNodeConfig } from '../../src/storage-node/config.js';

const base = () => ({
  address: '127.0.0.1:1025',
  remotes: ['127.0.0.1:1026'],
  backends: [{ id: 1, group: 1, dir: 'var/node1/b1' }, { id: 2, group: 2, dir: 'var/node1/b2', 'blob-size-limit': 104857600 }],
  sync: 1,
  'max-frame': 104857600,
});

test('the documented example parses; relative dirs resolve against the config file directory', () => {
  const c = parseNodeConfig(base(), '/etc/backrunner');
  assert.equal(c.address.port, 1025);
  assert.deepEqual(c.remotes, [{ host: '127.0.0.1', port: 1026 }]);
  assert.equal(c.backends[0]!.dir, '/etc/backrunner/var/node1/b1');
  assert.equal(c.backends[1]!.blobSizeLimit, 104857600);
  assert.equal(c.sync, 1);
  assert.deepEqual(c.warnings, []);
});

const cases: [string, (c: ReturnType<typeof base>) => unknown, RegExp][] = [
  ['group not positive', (c) => ((c.backends[1] as Record<string, unknown>).group = 0), /^backends\[1\]\.group: must be a positive integer$/],
  ['group not an integer', (c) => ((c.backends[0] as Record<string, unknown>).group = '1'), /^backends\[0\]\.group: must be a positive integer$/],
  ['duplicate group', (c) => ((c.backends[1] as Record<string, unknown>).group = 1), /^backends\[1\]\.group: group 1 is already served by backends\[0\]$/],
  ['duplicate id', (c) => ((c.backends[1] as Record<string, unknown>).id = 1), /^backends\[1\]\.id: backend id 1 is already used by backends\[0\]$/],
  ['missing dir', (c) => delete (c.backends[0] as Record<string, unknown>).dir, /^backends\[0\]\.dir: is required$/],
  ['hostname address', (c) => (c.address = 'localhost:1025'), /^address: must be a numeric IP address/],
  ['bad port', (c) => (c.address = '127.0.0.1:99999'), /^address: .*port must be/],
  ['bad remote', (c) => (c.remotes = ['nowhere']), /^remotes\[0\]: /],
  ['bad sync', (c) => ((c as Record<string, unknown>).sync = 'sometimes'), /^sync: must be "always" or a number of seconds/],
  ['tiny max-frame', (c) => (c['max-frame'] = 10), /^max-frame: must be at least 4096$/],
  ['no backends', (c) => (c.backends = []), /^backends: must list at least one backend$/],
  ['backends not an array', (c) => ((c as Record<string, unknown>).backends = {}), /^backends: must be an array of objects$/],
];

for (const [name, mutate, message] of cases) {
  test(`rejects ${name} naming the field`, () => {
    const c = base();
    mutate(c);
    assert.throws(() => parseNodeConfig(c, '/tmp'), (e: Error) => message.test(e.message));
  });
}

test('sync "always" is accepted; unknown keys are warned about, not silently ignored', () => {
  const c = { ...base(), sync: 'always', colour: 'blue' };
  const parsed = parseNodeConfig(c, '/tmp');
  assert.equal(parsed.sync, 'always');
  assert.deepEqual(parsed.warnings, ['unknown key colour ignored']);
});

it('node.example.json, named by `backrunner node --help`, is a valid node config', () => {
  const file = fileURLToPath(new URL('../../../node.example.json', import.meta.url));
  const c = loadNodeConfig(file);
  assert.deepEqual(c.backends.map((b) => b.group), [1, 2, 3]);
  assert.equal(c.logFile, undefined);
  assert.deepEqual(c.warnings, []);
});
