/**
 * Keys that cannot serve: disabled (every use refused until enabled again) or destroyed (crypto-shredded:
 * nothing encrypted to it opens again). Revoked objects are single documents and only counted.
 * OpenDKE has no "revoke everything" state: revoking is per object (docs/keys.md).
 */
import type { InventoryProblem, KeyInventory } from './key-inventory.js';
import { finding, plural, type Finding } from './types.js';

export function checkInventorySource(
  inventory: KeyInventory | undefined,
  problem: InventoryProblem | undefined,
): Finding {
  if (inventory !== undefined) {
    const msDke = inventory.keys.filter((k) => k.protocol === 'ms-dke').length;
    return finding(
      'keys',
      'ok',
      `${plural(inventory.keys.length, 'key')} (${msDke} ms-dke) read from ${inventory.source === 'store' ? `the store ${inventory.where}, read-only` : inventory.where}`,
      null,
      { source: inventory.source, where: inventory.where, keys: inventory.keys.length, msDkeKeys: msDke },
    );
  }
  return finding(
    'keys',
    problem?.severity ?? 'skip',
    `key states not checked: ${problem?.problem ?? 'no store or admin access'}`,
    'run doctor on the service machine with --config (reads the store read-only), or give an admin token with --token-file <file> or DKE_TOKEN; --key <name> checks a key by name only',
  );
}

export function checkKeyStates(inventory: KeyInventory): Finding[] {
  const findings: Finding[] = [];
  for (const key of inventory.keys) {
    const details = {
      protocol: key.protocol,
      state: key.state,
      activeKeyId: key.activeKeyId,
      revokedObjects: key.revokedObjects,
    };
    if (key.state === 'disabled') {
      findings.push(
        finding(
          `key:${key.name}`,
          'warn',
          `key ${key.name} (${key.protocol}) is disabled: every unwrap or decrypt is refused${key.protocol === 'ms-dke' ? ' and Office cannot encrypt new content to it' : ''}`,
          `if that is not deliberate: dke key enable ${key.name} -c <config>`,
          details,
        ),
      );
    } else if (key.state === 'destroyed') {
      findings.push(
        finding(
          `key:${key.name}`,
          'warn',
          `key ${key.name} (${key.protocol}) is destroyed: nothing encrypted to it can be opened again`,
          key.protocol === 'ms-dke'
            ? 'remove its URL from every sensitivity label'
            : 'stop naming it as a holder',
          details,
        ),
      );
    } else if (key.state !== 'enabled') {
      findings.push(
        finding(
          `key:${key.name}`,
          'warn',
          `key ${key.name} is in an unknown state ${key.state}`,
          'run dke key show',
          details,
        ),
      );
    }
  }
  if (findings.length === 0) {
    const revoked = inventory.keys.reduce((sum, k) => sum + (k.revokedObjects ?? 0), 0);
    findings.push(
      finding(
        'key:all',
        'ok',
        `all ${inventory.keys.length} keys enabled${revoked > 0 ? ` (${revoked} single objects revoked)` : ''}`,
        null,
        {
          revokedObjects: revoked,
        },
      ),
    );
  }
  return findings;
}
