/** One key: versions, and (for admins) rotate, disable/enable, policy, revoke one object, destroy. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import { api, type KeyView, type Policy } from '../api.js';

interface Props {
  readonly keyView: KeyView;
  readonly canChange: boolean;
  readonly onDone: (message: string) => void;
  readonly onFailed: (error: unknown) => void;
}

const LISTS = ['users', 'groups', 'roles', 'tenants'] as const;

/** One entry per line; blank lines dropped. The service validates and normalises the rest. */
function lines(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

export function KeyDetail({ keyView: key, canChange, onDone, onFailed }: Props): JSX.Element {
  const [policy, setPolicy] = useState<Record<(typeof LISTS)[number], string>>({
    users: key.policy.users.join('\n'),
    groups: key.policy.groups.join('\n'),
    roles: key.policy.roles.join('\n'),
    tenants: key.policy.tenants.join('\n'),
  });
  const [objectId, setObjectId] = useState('');
  const [confirm, setConfirm] = useState('');
  const destroyed = key.state === 'destroyed';
  const id = (suffix: string) => `key-${key.name}-${suffix}`;

  const savePolicy = (event: Event) => {
    event.preventDefault();
    const next: Policy = {
      users: lines(policy.users),
      groups: lines(policy.groups),
      roles: lines(policy.roles),
      tenants: lines(policy.tenants),
    };
    api.setPolicy(key.name, next).then(() => onDone(`Policy of ${key.name} saved.`), onFailed);
  };
  const revoke = (event: Event) => {
    event.preventDefault();
    api.revoke(key.name, objectId.trim()).then((answer) => {
      setObjectId('');
      onDone(answer.changed ? `Object revoked for ${key.name}.` : 'That object was already revoked.');
    }, onFailed);
  };
  const destroy = (event: Event) => {
    event.preventDefault();
    api.destroy(key.name, confirm).then(() => onDone(`Key ${key.name} destroyed.`), onFailed);
  };

  return (
    <section class="panel" aria-labelledby={id('title')}>
      <h2 id={id('title')}>Key {key.name}</h2>
      {key.labelUrl === undefined ? null : (
        <p>
          Sensitivity label key URL: <code>{key.labelUrl}</code>
        </p>
      )}
      <table>
        <caption>Versions</caption>
        <thead>
          <tr>
            <th scope="col">Version</th>
            <th scope="col">Key id</th>
            <th scope="col">Type</th>
            <th scope="col">Backend</th>
            <th scope="col">Created</th>
            <th scope="col">Private key</th>
          </tr>
        </thead>
        <tbody>
          {key.versions.map((v) => (
            <tr key={v.version}>
              <td>
                {v.version}
                {v.version === key.activeVersion ? ' (active)' : ''}
              </td>
              <td>
                <code>{v.keyId}</code>
              </td>
              <td>{v.spec}</td>
              <td>{v.backend}</td>
              <td>{v.createdAt}</td>
              <td>{v.destroyed ? 'destroyed' : 'present'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {!canChange || destroyed ? null : (
        <>
          <div class="actions">
            <button
              type="button"
              onClick={() =>
                void api.rotate(key.name).then(() => onDone(`Key ${key.name} rotated.`), onFailed)
              }
            >
              Rotate
            </button>
            {key.state === 'enabled' ? (
              <button
                type="button"
                onClick={() =>
                  void api
                    .setEnabled(key.name, false)
                    .then(() => onDone(`Key ${key.name} disabled.`), onFailed)
                }
              >
                Disable
              </button>
            ) : (
              <button
                type="button"
                onClick={() =>
                  void api.setEnabled(key.name, true).then(() => onDone(`Key ${key.name} enabled.`), onFailed)
                }
              >
                Enable
              </button>
            )}
          </div>
          <form onSubmit={savePolicy} aria-labelledby={id('policy')}>
            <h3 id={id('policy')}>Policy</h3>
            <p class="note">
              One entry per line. A caller needs a matching user, group or role (and one of the tenants, if
              any are listed); an empty policy refuses everyone.
            </p>
            <div class="policy">
              {LISTS.map((list) => (
                <p key={list}>
                  <label for={id(list)}>{list}</label>
                  <textarea
                    id={id(list)}
                    rows={3}
                    value={policy[list]}
                    onInput={(e) => setPolicy({ ...policy, [list]: e.currentTarget.value })}
                  />
                </p>
              ))}
            </div>
            <button type="submit">Save policy</button>
          </form>
          <form onSubmit={revoke} aria-labelledby={id('revoke')}>
            <h3 id={id('revoke')}>Revoke one object</h3>
            <p>
              <label for={id('object')}>Object id (base64url, from dke inspect)</label>
              <input
                id={id('object')}
                value={objectId}
                onInput={(e) => setObjectId(e.currentTarget.value)}
                required
              />
            </p>
            <button type="submit">Revoke object</button>
          </form>
          <form onSubmit={destroy} aria-labelledby={id('destroy')} class="danger">
            <h3 id={id('destroy')}>Destroy</h3>
            <p class="note">
              Crypto-shreds every version: nothing encrypted to this key can ever be opened again.
            </p>
            <p>
              <label for={id('confirm')}>Type the key name, {key.name}, to confirm</label>
              <input
                id={id('confirm')}
                value={confirm}
                onInput={(e) => setConfirm(e.currentTarget.value)}
                autocomplete="off"
              />
            </p>
            <button type="submit" disabled={confirm !== key.name}>
              Destroy key
            </button>
          </form>
        </>
      )}
    </section>
  );
}
