// Loaded with `node --require` in front of electronegativity: its i18n module
// fetches translations over the network with `got` whatever the flags say, and
// on a machine without network got's retry path can crash the process before
// the scan is written. Here every `got` request fails at once, so the tool
// falls back to its bundled English strings and always finishes.
'use strict';
const Module = require('node:module');
const load = Module._load;
Module._load = function offlineLoad(request, parent, isMain) {
  if (request === 'got') {
    const offline = () => Promise.reject(new Error('offline: network disabled for the security scan'));
    offline.default = offline;
    return offline;
  }
  return load.call(this, request, parent, isMain);
};
