/**
 * The console's pages (docs/console.md, "Adding a page"): the navigation, the hash route (`#<id>` or
 * `#<id>/<param>`) and the roles that see each page. A page is one module under pages/ and one entry here.
 */
import type { JSX } from 'preact';
import type { Role } from './api.js';
import type { PageProps } from './page.js';
import { KeysPage } from './pages/keys-page.js';
import { AuditPage } from './pages/audit-page.js';
import { DocumentPage } from './pages/document-page.js';
import { IntegrityPage } from './pages/integrity-page.js';
import { ReportPage } from './pages/report-page.js';
import { ActivityPage } from './pages/activity-page.js';
import { StatusPage } from './pages/status-page.js';

export interface PageEntry {
  readonly id: string;
  readonly title: string;
  readonly roles: readonly Role[];
  readonly Component: (props: PageProps) => JSX.Element;
}

const READERS: readonly Role[] = ['admin', 'auditor'];

export const PAGES: readonly PageEntry[] = [
  { id: 'keys', title: 'Keys', roles: READERS, Component: KeysPage },
  { id: 'audit', title: 'Audit', roles: READERS, Component: AuditPage },
  { id: 'document', title: 'Document', roles: READERS, Component: DocumentPage },
  { id: 'integrity', title: 'Integrity', roles: READERS, Component: IntegrityPage },
  { id: 'report', title: 'Incident report', roles: READERS, Component: ReportPage },
  { id: 'activity', title: 'Activity', roles: READERS, Component: ActivityPage },
  { id: 'status', title: 'Status', roles: READERS, Component: StatusPage },
];
