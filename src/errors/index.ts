export { ERRORS, EXIT, type ErrorCode, type ErrorSpec } from './registry.js';
export { DkeError, isDkeError, type DkeErrorOptions } from './dke-error.js';
