// Typed entry point of the packetcloud_native addon. The rest of the repository
// imports from here and never touches the raw binding (native/loader.ts).
export { addonPath, loadBinding } from './loader.ts';
export * from './demux.ts';
export * from './crypto.ts';
export * from './dataplane.ts';
