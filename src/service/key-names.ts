/**
 * Key names that would collide with the service's own routes. Microsoft DKE keys live at `/{name}`, so
 * a key called `metrics` or `admin` would be unreachable or shadow a route; such names are refused when
 * a key is created or imported (admin API and CLI alike).
 */
import { DkeError } from '../errors/index.js';

export const RESERVED_KEY_NAMES: readonly string[] = ['keys', 'admin', 'healthz', 'metrics'];

export function assertKeyNameAllowed(name: string): void {
  if (RESERVED_KEY_NAMES.includes(name.toLowerCase())) {
    throw new DkeError('ERR_BAD_REQUEST', {
      message: `key name '${name}' is reserved (${RESERVED_KEY_NAMES.join(', ')})`,
    });
  }
}
