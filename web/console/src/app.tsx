/** The app shell: sign-in state, navigation over the pages of the console, the live page. */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, loadSession, type SessionInfo } from './api.js';
import { KeysPage } from './keys-page.js';

/** The pages of docs/console.md; only Keys is built so far, the others are named as coming. */
const PAGES = [
  { id: 'keys', title: 'Keys', live: true },
  { id: 'audit', title: 'Audit', live: false },
  { id: 'document', title: 'Document', live: false },
  { id: 'integrity', title: 'Integrity', live: false },
  { id: 'report', title: 'Incident report', live: false },
  { id: 'activity', title: 'Activity', live: false },
] as const;

type Loaded =
  { state: 'loading' } | { state: 'error'; message: string } | { state: 'ready'; session?: SessionInfo };

export function App(): JSX.Element {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  useEffect(() => {
    loadSession().then(
      (session) => setLoaded(session === undefined ? { state: 'ready' } : { state: 'ready', session }),
      (error: unknown) => setLoaded({ state: 'error', message: String(error) }),
    );
  }, []);

  if (loaded.state === 'loading') return <p class="status">Loading…</p>;
  if (loaded.state === 'error') return <p role="alert">The console could not load: {loaded.message}</p>;
  const { session } = loaded;
  if (session === undefined) {
    return (
      <main class="signin">
        <h1>OpenDKE console</h1>
        <p>Keys, policies and the audit log of this key service.</p>
        <p>
          <a class="button" href="/console/login">
            Sign in
          </a>
        </p>
      </main>
    );
  }
  const signOut = () => {
    void api.signOut().finally(() => window.location.assign('/console/'));
  };
  const who = session.user.userName ?? session.user.subject;
  return (
    <div class="shell">
      <header>
        <span class="brand">OpenDKE console</span>
        <span class="who">
          Signed in as <strong>{who}</strong>
          {session.roles.length > 0 ? ` (${session.roles.join(', ')})` : ' (no role)'}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </header>
      {session.roles.length === 0 ? (
        <main>
          <h1>No access</h1>
          <p role="alert">
            You are signed in, but your account has no console role. Ask an administrator for the admin or
            auditor role.
          </p>
        </main>
      ) : (
        <div class="body">
          <nav aria-label="Pages">
            <ul>
              {PAGES.map((page) =>
                page.live ? (
                  <li key={page.id}>
                    <a href="#keys" aria-current="page">
                      {page.title}
                    </a>
                  </li>
                ) : (
                  <li key={page.id} class="coming">
                    {page.title} <span class="tag">coming</span>
                  </li>
                ),
              )}
            </ul>
          </nav>
          <main>
            <KeysPage canChange={session.roles.includes('admin')} />
          </main>
        </div>
      )}
    </div>
  );
}
