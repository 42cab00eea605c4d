/**
 * What the audit log counts as a key release and as a refusal: one definition for the incident report
 * (src/report/build.ts), the console's Document page and the Activity aggregation, which writes it in SQL
 * (src/store/audit-activity.ts). No imports: the store reads it too.
 */

/** The actions that hand out a key share (native unwrap) or a decrypted key (Microsoft DKE decrypt). */
export const RELEASE_ACTIONS: readonly string[] = ['native.unwrap', 'ms-dke.decrypt'];
/** A release is one of those actions with this result (recorded before the answer leaves). */
export const RELEASE_RESULT = 'allowed';
/** A refusal is any record with one of these results. */
export const REFUSAL_RESULTS: readonly string[] = ['denied', 'failed'];

export const isReleaseAction = (action: string): boolean => RELEASE_ACTIONS.includes(action);
