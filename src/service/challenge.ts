/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 6750, in the form Microsoft DKE clients read): it tells
 * a client which resource to get a token for and from which authority.
 */
import type { Authenticator } from './contracts.js';

/** Quoted-string content: no quotes, backslashes or control characters can break out of the parameter. */
function quoted(value: string): string {
  // eslint-disable-next-line no-control-regex
  return `"${value.replace(/[\\"\u0000-\u001f\u007f]/g, '')}"`;
}

export function bearerChallenge(challenge: Authenticator['challenge'], invalidToken: boolean): string {
  const params: string[] = [];
  if (challenge !== undefined) {
    params.push(`resource=${quoted(challenge.audience)}`);
    params.push(`authorization=${quoted(challenge.authority)}`);
    params.push(`realm=${quoted(challenge.audience)}`);
  } else {
    params.push(`realm=${quoted('opendke')}`);
  }
  if (invalidToken) params.push(`error=${quoted('invalid_token')}`);
  return `Bearer ${params.join(', ')}`;
}
