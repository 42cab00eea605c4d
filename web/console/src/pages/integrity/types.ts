/**
 * What the Integrity page's endpoints answer: the back end's own types, imported type-only (nothing of the
 * server is bundled), so the page and src/console/integrity-api.ts cannot drift apart.
 */
export type { IntegrityState, VerificationView } from '../../../../../src/console/integrity-api.js';
export type { Alarm } from '../../../../../src/console/integrity-alarms.js';
