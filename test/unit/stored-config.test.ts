// A stored proxy config combined with the config file the way Go's json.Unmarshal does it when the
// file is decoded on top of the stored document (spec backrunner.md §9.4).

import { it } from 'node:test';
import assert from 'node:assert/strict';
import { combineStoredConfig, overlay } from '../../src/config/stored-config.js';

it('file fields override, sections match case-insensitively, maps merge by exact key, arrays are replaced', () => {
  const stored = {
    elliptics: { 'metadata-groups': [1, 2], 'log-level': 'info' },
    proxy: { address: '0.0.0.0:80', 'Idle-Timeout': 30, headers: { 'X-A': 'stored', 'x-b': 'stored' }, 'content-types': { mp4: 'video/mp4' }, root: '/srv' },
  };
  const file = {
    Proxy: { 'idle-timeout': 60, headers: { 'X-B': 'file', 'X-C': 'file' }, 'content-types': { mp3: 'audio/mpeg' } },
    elliptics: { 'metadata-groups': [3] },
  };
  assert.deepEqual(overlay(stored, file), {
    elliptics: { 'metadata-groups': [3], 'log-level': 'info' },
    proxy: {
      address: '0.0.0.0:80',
      'Idle-Timeout': 60,
      headers: { 'X-A': 'stored', 'x-b': 'stored', 'X-B': 'file', 'X-C': 'file' },
      'content-types': { mp4: 'video/mp4', mp3: 'audio/mpeg' },
      root: '/srv',
    },
  });
});

it('null in the file leaves a stored scalar alone and clears a stored map', () => {
  assert.deepEqual(overlay({ proxy: { root: '/srv', headers: { A: '1' } } }, { proxy: { root: null, headers: null } }), { proxy: { root: '/srv', headers: null } });
});

it('a stored document that names a config key itself is used alone; a broken one throws', () => {
  const alone = { elliptics: { 'backrunner-config-key': 'k' }, proxy: { address: ':1' } };
  assert.deepEqual(combineStoredConfig(JSON.stringify(alone), { proxy: { address: ':2', root: '/x' } }), alone);
  assert.deepEqual(combineStoredConfig(JSON.stringify({ proxy: { root: '/s' } }), { proxy: { address: ':2' } }), { proxy: { root: '/s', address: ':2' } });
  assert.throws(() => combineStoredConfig('{nope', {}), SyntaxError);
  assert.throws(() => combineStoredConfig('[1]', {}), /not a JSON object/);
});
