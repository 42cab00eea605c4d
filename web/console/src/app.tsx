/** The app shell: sign-in state, navigation over the pages of the console (hash routes), the live page. */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { api, loadSession, type SessionInfo } from './api.js';
import { PAGES, type PageEntry } from './pages.js';

/** `#audit` → ['audit', undefined]; `#document/abc` → ['document', 'abc']. */
function parseHash(hash: string): [string, string | undefined] {
  const route = hash.replace(/^#/, '');
  const slash = route.indexOf('/');
  if (slash < 0) return [route, undefined];
  let param: string | undefined;
  try {
    param = decodeURIComponent(route.slice(slash + 1));
  } catch {
    param = undefined;
  }
  return [route.slice(0, slash), param === '' ? undefined : param];
}

function useHash(): string {
  const [hash, setHash] = useState(window.location.hash);
  useEffect(() => {
    const changed = () => setHash(window.location.hash);
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

type Loaded =
  { state: 'loading' } | { state: 'error'; message: string } | { state: 'ready'; session?: SessionInfo };

export function App(): JSX.Element {
  const [loaded, setLoaded] = useState<Loaded>({ state: 'loading' });
  const hash = useHash();
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
        <Pages session={session} hash={hash} />
      )}
    </div>
  );
}

function Pages({ session, hash }: { readonly session: SessionInfo; readonly hash: string }): JSX.Element {
  const visible = PAGES.filter((page) => page.roles.some((role) => session.roles.includes(role)));
  const [id, param] = parseHash(hash);
  const current: PageEntry | undefined = visible.find((page) => page.id === id) ?? visible[0];
  useEffect(() => {
    document.title = current === undefined ? 'OpenDKE console' : `${current.title} · OpenDKE console`;
  }, [current]);
  if (current === undefined) return <main />;
  const navigate = (route: string) => window.location.assign(`#${route}`);
  const { Component } = current;
  return (
    <div class="body">
      <nav aria-label="Pages">
        <ul>
          {visible.map((page) => (
            <li key={page.id}>
              <a href={`#${page.id}`} aria-current={page.id === current.id ? 'page' : undefined}>
                {page.title}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main>
        <Component
          key={current.id}
          session={session}
          navigate={navigate}
          param={current.id === id ? param : undefined}
        />
      </main>
    </div>
  );
}
