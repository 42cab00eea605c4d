/** Public API of the transparency verify core (pure: no store, no network). */
export * from './merkle.js';
export * from './proof-plan.js';
export { MAX_UINT63 } from './encoding.js';
export * from './note-keys.js';
export * from './note.js';
export * from './checkpoint.js';
export * from './cosignature.js';
export * from './tlog-proof.js';
export * from './audit-record-text.js';
export * from './receipt.js';
