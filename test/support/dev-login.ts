/**
 * Signing in at the development issuer's login form over plain HTTP, the way a browser would: GET the
 * authorization URL, read the form's hidden fields, POST them with a user name and password, and return the
 * redirect the issuer answers with (the client's redirect URI with code, state and iss).
 */
import assert from 'node:assert/strict';

/** The hidden fields of the login form. */
export function hiddenFields(html: string): URLSearchParams {
  const fields = new URLSearchParams();
  for (const match of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    const value = (match[2] ?? '').replace(/&#(\d+);/g, (_m, code: string) =>
      String.fromCharCode(Number(code)),
    );
    fields.set(match[1] ?? '', value);
  }
  return fields;
}

export interface FormAnswer {
  readonly status: number;
  readonly location: string | null;
  readonly body: string;
}

/** Submits the login form of `authorizationUrl` as `username`; does not follow the redirect. */
export async function submitLogin(
  authorizationUrl: string | URL,
  username: string,
  password: string,
): Promise<FormAnswer> {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  assert.equal(page.status, 200, `login form: ${page.status} ${html}`);
  const form = hiddenFields(html);
  form.set('username', username);
  form.set('password', password);
  const action = new URL('/authorize', authorizationUrl);
  const answer = await fetch(action, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  return { status: answer.status, location: answer.headers.get('location'), body: await answer.text() };
}

/** Signs in and returns the redirect URI with the code (fails the test on anything else). */
export async function loginRedirect(
  authorizationUrl: string | URL,
  username: string,
  password: string,
): Promise<URL> {
  const answer = await submitLogin(authorizationUrl, username, password);
  assert.equal(answer.status, 302, answer.body);
  assert.ok(answer.location !== null);
  return new URL(answer.location);
}
