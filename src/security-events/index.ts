/** Security events: failed authentications, aggregated and bounded (docs/audit.md#security-events). */
export {
  SecurityEventRecorder,
  type SecurityEventRecorderOptions,
  type SecurityEventToken,
} from './recorder.js';
export {
  DEFAULT_SECURITY_EVENT_LIMIT,
  MAX_SECURITY_EVENT_LIMIT,
  MAX_SECURITY_EVENT_TEXT_CHARS,
  securityEventQuery,
  type SecurityEvent,
  type SecurityEventFilter,
} from './query.js';
