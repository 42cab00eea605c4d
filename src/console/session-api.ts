/** The session endpoints every page uses: who is signed in (with the CSRF token), and sign-out. */
import type { ConsoleRouter } from './api.js';
import type { CookieNames } from './session.js';

export function registerSessionApi(route: ConsoleRouter, cookies: CookieNames): void {
  // Any signed-in user, with or without a role: the page needs it to say "no role" and to sign out.
  route({ method: 'GET', url: '/session', action: 'console.session', roles: [] }, ({ who }) => {
    const { session } = who;
    return Promise.resolve({
      user: {
        issuer: session.issuer,
        subject: session.subject,
        ...(session.userName === undefined ? {} : { userName: session.userName }),
      },
      roles: session.roles,
      csrfToken: session.csrf,
      expiresAt: new Date(session.expiresAt * 1000).toISOString(),
    });
  });
  route({ method: 'POST', url: '/logout', action: 'console.logout', roles: [] }, ({ reply }) => {
    void reply.clearCookie(cookies.session, { path: cookies.path, secure: cookies.secure });
    return Promise.resolve({ signedOut: true });
  });
}
