/** `dke doctor`: a self-test of a running key service (docs/doctor.md). No CLI dependency. */
export { runDoctor, DEFAULT_DOCTOR_TIMEOUT_MS, type DoctorOptions } from './run-doctor.js';
export { renderText } from './render-text.js';
export {
  checkKeyAnswer,
  rsaThumbprint,
  type KeyAnswer,
  type KeyAnswerExpectations,
  type KeyAnswerReport,
} from './ms-dke-answer.js';
export { labelUrl } from './public-url.js';
export type { DoctorReport, Finding, FindingStatus } from './types.js';
