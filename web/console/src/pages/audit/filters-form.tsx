/** The Audit page's filters as a labelled form: time range (the browser's local time), key, user, object, result. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { AuditFilters, AuditResult } from './records.js';
import { fromLocalInput } from '../../time.js';

interface Props {
  readonly onApply: (filters: AuditFilters) => void;
}

interface Fields {
  since: string;
  until: string;
  key: string;
  subject: string;
  object: string;
  result: string;
  action: string;
  hideReads: boolean;
}

const EMPTY: Fields = {
  since: '',
  until: '',
  key: '',
  subject: '',
  object: '',
  result: '',
  action: '',
  hideReads: false,
};

export function toFilters(fields: Fields): AuditFilters {
  const text = (value: string): string | undefined => (value.trim() === '' ? undefined : value.trim());
  const since = fromLocalInput(fields.since);
  const until = fromLocalInput(fields.until);
  const key = text(fields.key);
  const subject = text(fields.subject);
  const object = text(fields.object);
  const action = text(fields.action);
  return {
    ...(since === undefined ? {} : { since }),
    ...(until === undefined ? {} : { until }),
    ...(key === undefined ? {} : { key }),
    ...(subject === undefined ? {} : { subject }),
    ...(object === undefined ? {} : { object }),
    ...(fields.result === '' ? {} : { result: fields.result as AuditResult }),
    ...(action === undefined ? {} : { action }),
    ...(fields.hideReads ? { reads: 'hide' as const } : {}),
  };
}

export function FiltersForm({ onApply }: Props): JSX.Element {
  const [fields, setFields] = useState<Fields>(EMPTY);
  const set = (name: keyof Fields) => (event: Event) =>
    setFields({ ...fields, [name]: (event.currentTarget as HTMLInputElement | HTMLSelectElement).value });
  const submit = (event: Event) => {
    event.preventDefault();
    onApply(toFilters(fields));
  };
  const clear = () => {
    setFields(EMPTY);
    onApply({});
  };
  return (
    <form class="panel filters" onSubmit={submit} aria-labelledby="audit-filters-title">
      <h2 id="audit-filters-title">Filters</h2>
      <div class="filter-grid">
        <p>
          <label for="audit-since">From (your local time)</label>
          <input id="audit-since" type="datetime-local" value={fields.since} onInput={set('since')} />
        </p>
        <p>
          <label for="audit-until">Until, not including (local time)</label>
          <input id="audit-until" type="datetime-local" value={fields.until} onInput={set('until')} />
        </p>
        <p>
          <label for="audit-key">Key</label>
          <input
            id="audit-key"
            value={fields.key}
            onInput={set('key')}
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,63}"
            title="A key name: 1-64 letters, digits, '.', '_' or '-'"
          />
        </p>
        <p>
          <label for="audit-subject">User name or subject</label>
          <input id="audit-subject" value={fields.subject} onInput={set('subject')} maxLength={512} />
        </p>
        <p>
          <label for="audit-object">Object id</label>
          <input
            id="audit-object"
            value={fields.object}
            onInput={set('object')}
            pattern="[A-Za-z0-9_\-]{1,128}"
            title="base64url, as in the records"
          />
        </p>
        <p>
          <label for="audit-result">Result</label>
          <select id="audit-result" value={fields.result} onChange={set('result')}>
            <option value="">any</option>
            <option value="allowed">allowed</option>
            <option value="ok">ok</option>
            <option value="denied">denied</option>
            <option value="failed">failed</option>
          </select>
        </p>
        <p>
          <label for="audit-action">Action</label>
          <input
            id="audit-action"
            value={fields.action}
            onInput={set('action')}
            list="audit-actions"
            pattern="[a-z0-9][a-z0-9._\-]{0,63}"
            title="e.g. native.unwrap"
          />
          <datalist id="audit-actions">
            <option value="native.unwrap" />
            <option value="ms-dke.decrypt" />
            <option value="admin.key.create" />
            <option value="admin.policy.set" />
            <option value="admin.object.revoke" />
            <option value="console.signin" />
          </datalist>
        </p>
      </div>
      <p class="checkbox">
        <input
          id="audit-hide-reads"
          type="checkbox"
          checked={fields.hideReads}
          onChange={(event) => setFields({ ...fields, hideReads: event.currentTarget.checked })}
        />
        <label for="audit-hide-reads">
          Hide page reads (key listings, audit queries, page views: the console's own records)
        </label>
      </p>
      <p class="actions">
        <button type="submit">Apply filters</button>
        <button type="button" onClick={clear}>
          Clear
        </button>
      </p>
    </form>
  );
}
