/** What every page of the console gets from the app shell. */
import type { SessionInfo } from './api.js';

export interface PageProps {
  readonly session: SessionInfo;
  /** Moves to another page (the shell's hash route), e.g. from an audit row to its document. */
  readonly navigate: (route: string) => void;
  /** The rest of the route after the page's id (`#document/<objectId>` gives `<objectId>`), URI-decoded. */
  readonly param: string | undefined;
}
