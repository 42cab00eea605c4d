/** Keys: every key with its state, protocol, backend, versions, policy and label URL; create; manage one. */
import type { JSX } from 'preact';
import { useCallback, useEffect, useState } from 'preact/hooks';
import { api, describeError, type KeyView } from '../api.js';
import type { PageProps } from '../page.js';
import { KeyDetail } from './key-detail.js';
import { ErrorMessage, StatusLine } from '../messages.js';

function policySummary(key: KeyView): string {
  const { users, groups, roles, tenants } = key.policy;
  const parts = [
    users.length > 0 ? `users: ${users.join(', ')}` : '',
    groups.length > 0 ? `groups: ${groups.join(', ')}` : '',
    roles.length > 0 ? `roles: ${roles.join(', ')}` : '',
    tenants.length > 0 ? `tenants: ${tenants.join(', ')}` : '',
  ].filter((part) => part !== '');
  return parts.length === 0 ? 'nobody (deny all)' : parts.join('; ');
}

export function KeysPage({ session }: PageProps): JSX.Element {
  const canChange = session.roles.includes('admin');
  const [keys, setKeys] = useState<readonly KeyView[] | undefined>(undefined);
  const [selected, setSelected] = useState<string | undefined>(undefined);
  const [error, setError] = useState('');
  const [status, setStatus] = useState('');
  const [name, setName] = useState('');
  const [protocol, setProtocol] = useState('native');

  const reload = useCallback(() => {
    api.listKeys().then(
      (answer) => setKeys(answer.keys),
      (e: unknown) => setError(describeError(e)),
    );
  }, []);
  useEffect(reload, [reload]);

  const done = (message: string) => {
    setError('');
    setStatus(message);
    reload();
  };
  const failed = (e: unknown) => {
    setStatus('');
    setError(describeError(e));
  };

  const create = (event: Event) => {
    event.preventDefault();
    api.createKey(name.trim(), protocol).then((key) => {
      setName('');
      setSelected(key.name);
      done(`Key ${key.name} created.`);
    }, failed);
  };

  const current = keys?.find((key) => key.name === selected);
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">Keys</h1>
      <StatusLine>{status}</StatusLine>
      <ErrorMessage error={error} />
      {keys === undefined ? (
        <p>Loading keys…</p>
      ) : keys.length === 0 ? (
        <p>No keys yet.</p>
      ) : (
        <table>
          <caption class="sr-only">Keys of this key service</caption>
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">State</th>
              <th scope="col">Protocol</th>
              <th scope="col">Backend</th>
              <th scope="col">Versions</th>
              <th scope="col">Policy</th>
              <th scope="col">Label URL</th>
              <th scope="col">
                <span class="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr key={key.name} class={key.name === selected ? 'selected' : ''}>
                <th scope="row">{key.name}</th>
                <td>
                  <span class={`state state-${key.state}`}>{key.state}</span>
                </td>
                <td>{key.protocol}</td>
                <td>{key.backend ?? '-'}</td>
                <td>
                  v{key.activeVersion} active, {key.versions.length} in all
                </td>
                <td>{policySummary(key)}</td>
                <td>{key.labelUrl === undefined ? '-' : <code>{key.labelUrl}</code>}</td>
                <td>
                  <button
                    type="button"
                    onClick={() => setSelected(key.name)}
                    aria-label={`Manage ${key.name}`}
                  >
                    {canChange ? 'Manage' : 'Details'}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {current === undefined ? null : (
        <KeyDetail
          key={current.name}
          keyView={current}
          canChange={canChange}
          onDone={done}
          onFailed={failed}
        />
      )}
      {canChange ? (
        <form class="panel" onSubmit={create} aria-labelledby="create-title">
          <h2 id="create-title">Create a key</h2>
          <p>
            <label for="new-key-name">Name</label>
            <input
              id="new-key-name"
              value={name}
              onInput={(e) => setName(e.currentTarget.value)}
              required
              pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,63}"
              title="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
            />
          </p>
          <p>
            <label for="new-key-protocol">Protocol</label>
            <select
              id="new-key-protocol"
              value={protocol}
              onChange={(e) => setProtocol(e.currentTarget.value)}
            >
              <option value="native">native (OpenDKE files, RSA-3072)</option>
              <option value="ms-dke">ms-dke (Microsoft 365 labels, RSA-2048)</option>
            </select>
          </p>
          <p>
            <button type="submit">Create key</button>
          </p>
        </form>
      ) : (
        <p class="note">Auditors see keys read-only; changes need the admin role.</p>
      )}
    </section>
  );
}
