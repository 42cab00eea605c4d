/**
 * The token audience. Office learns which resource to get a token for from the 401 challenge of the decrypt
 * route (`resource="<auth.audience>"`), and asks Entra ID for a token for it; Entra then puts that resource
 * in `aud`. Office only accepts a resource that is an https URL on the host of the label URL, so for MS DKE
 * the audience must be the service's public URL (the Entra Application ID URI), and the service's exact
 * `aud` check then accepts exactly those tokens (docs/ms-dke.md "Entra ID app registration").
 */
import type { ProbeResult } from './http-probe.js';
import { isLoopbackHost } from './public-url.js';
import { finding, type Finding } from './types.js';

/** Why an audience does not fit a public URL for Office ('fail'), or only loosely ('warn'). */
function audienceProblem(
  audience: string,
  publicUrl: string,
): { status: 'warn' | 'fail'; text: string } | undefined {
  let aud: URL;
  let pub: URL;
  try {
    aud = new URL(audience);
    pub = new URL(publicUrl);
  } catch {
    return {
      status: 'fail',
      text: `the audience ${JSON.stringify(audience)} is not a URL (Office needs the service's https URL)`,
    };
  }
  const loopbackTest = pub.protocol === 'http:' && isLoopbackHost(pub.hostname);
  if (aud.protocol !== 'https:' && !(loopbackTest && aud.protocol === 'http:')) {
    return { status: 'fail', text: `the audience ${audience} is not an https URL` };
  }
  if (aud.hostname.toLowerCase() !== pub.hostname.toLowerCase()) {
    return { status: 'fail', text: `the audience ${audience} is not on the service's host ${pub.hostname}` };
  }
  if (aud.origin !== pub.origin || (aud.pathname !== '/' && aud.pathname !== '') || aud.search !== '') {
    return {
      status: 'warn',
      text: `the audience ${audience} is on the right host but is not exactly ${pub.origin}`,
    };
  }
  return undefined;
}

const AUDIENCE_FIX =
  "make the Entra app registration's Application ID URI the public URL (e.g. https://dke.contoso.com) and set auth.audience to exactly that; tokens carry it as aud";

export function checkConfiguredAudience(
  audience: string,
  publicUrl: string,
  msDkeKeys: number | undefined,
): Finding {
  const details = { audience, publicUrl };
  if (msDkeKeys === 0) {
    return finding(
      'audience:config',
      'ok',
      `audience ${audience} (no ms-dke keys: only native clients use it)`,
      null,
      details,
    );
  }
  const problem = audienceProblem(audience, publicUrl);
  if (problem === undefined)
    return finding('audience:config', 'ok', `audience ${audience} matches the public URL`, null, details);
  return finding(
    'audience:config',
    problem.status,
    `${problem.text}: Office will not get a token the service accepts`,
    AUDIENCE_FIX,
    details,
  );
}

function challengeParameter(header: string, name: string): string | undefined {
  const match = new RegExp(`(?:^|[\\s,])${name}="([^"]*)"`, 'i').exec(header);
  return match?.[1];
}

/**
 * What the running service tells clients: POST `<label URL>/<key id>/decrypt` without a token must answer
 * 401 with the challenge Office reads (not audited: refused before any key use).
 */
export function checkChallenge(
  answer: ProbeResult,
  publicUrl: string,
  configuredAudience: string | undefined,
): Finding {
  const id = 'audience:challenge';
  if (!answer.ok)
    return finding(
      id,
      'fail',
      `decrypt route unreachable: ${answer.error}`,
      'check the proxy forwards POST requests to the service',
    );
  if (answer.status !== 401) {
    return finding(
      id,
      'fail',
      `POST .../decrypt without a token answered ${answer.status}, not 401 with a challenge`,
      'a proxy in front of the service must forward POST /{key}/{keyId}/decrypt unchanged, including 401 answers and their headers',
      { status: answer.status },
    );
  }
  const header = String(answer.headers['www-authenticate'] ?? '');
  const resource = challengeParameter(header, 'resource');
  const authority = challengeParameter(header, 'authorization');
  const details = { wwwAuthenticate: header, resource, authority };
  if (resource === undefined || authority === undefined) {
    return finding(
      id,
      'fail',
      'the 401 challenge names no resource and authorization: Office cannot tell where to get a token',
      'set auth.challenge.authority (e.g. https://login.microsoftonline.com/<tenant id>) and restart the service',
      details,
    );
  }
  if (configuredAudience !== undefined && resource !== configuredAudience) {
    return finding(
      id,
      'warn',
      `the running service announces resource ${resource}, the config says ${configuredAudience}`,
      'the service runs with another configuration: restart it with this one',
      details,
    );
  }
  const problem = audienceProblem(resource, publicUrl);
  if (problem !== undefined) {
    return finding(id, problem.status, `challenge: ${problem.text}`, AUDIENCE_FIX, details);
  }
  return finding(id, 'ok', `401 challenge: resource ${resource}, authority ${authority}`, null, details);
}
