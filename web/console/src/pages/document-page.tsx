/**
 * Document (docs/console.md): who opened one object. Enter its object id, follow a link from the Audit page,
 * or choose or drop an OpenDKE file: its object id is read from the header in this browser (the file is not
 * uploaded). Then every release, who, when, from where, on which key and version; refusals apart; and
 * whether the object is revoked on each key.
 */
import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { describeError } from '../api.js';
import type { PageProps } from '../page.js';
import { auditApi, utcTime, whoOf, type AuditRecordView, type DocumentAnswer } from './audit/records.js';
import { RecordsTable } from './audit/records-table.js';
import { HeaderError, readFileHeader, type FileHeader } from './document/file-header.js';
import { ErrorMessage, StatusLine } from '../messages.js';

const OBJECT_ID = /^[A-Za-z0-9_-]{21}[AQgw]$/;

interface Reader {
  readonly who: string;
  readonly issuer: string;
  readonly count: number;
  readonly first: string;
  readonly last: string;
}

/** Releases grouped by identity (issuer, subject, user name), most releases first. */
function readersOf(releases: readonly AuditRecordView[]): Reader[] {
  const byIdentity = new Map<string, Reader>();
  for (const record of releases) {
    const id = `${record.issuer ?? ''}\n${record.subject ?? ''}\n${record.userName ?? ''}`;
    const seen = byIdentity.get(id);
    byIdentity.set(
      id,
      seen === undefined
        ? {
            who: whoOf(record),
            issuer: record.issuer ?? '-',
            count: 1,
            first: record.time,
            last: record.time,
          }
        : {
            ...seen,
            count: seen.count + 1,
            first: record.time < seen.first ? record.time : seen.first,
            last: record.time > seen.last ? record.time : seen.last,
          },
    );
  }
  return [...byIdentity.values()].sort((a, b) => b.count - a.count || a.who.localeCompare(b.who));
}

function FileHeaderInput({
  onHeader,
}: {
  readonly onHeader: (file: string, header: FileHeader) => void;
}): JSX.Element {
  const [problem, setProblem] = useState('');
  const [dragging, setDragging] = useState(false);
  const read = (file: File | undefined) => {
    if (file === undefined) return;
    setProblem('');
    readFileHeader(file).then(
      (header) => onHeader(file.name, header),
      (e: unknown) =>
        setProblem(
          e instanceof HeaderError ? `${file.name}: ${e.message}` : `${file.name} could not be read.`,
        ),
    );
  };
  return (
    <div
      class={dragging ? 'dropzone dragging' : 'dropzone'}
      onDragOver={(event) => {
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(event) => {
        event.preventDefault();
        setDragging(false);
        read(event.dataTransfer?.files[0]);
      }}
    >
      <label for="document-file">OpenDKE file</label>
      <input
        id="document-file"
        type="file"
        onChange={(event) => read(event.currentTarget.files?.[0])}
        aria-describedby="document-file-note"
      />
      <p id="document-file-note" class="note">
        Choose or drop a file here: only its header is read, in this browser, to find its object id. The file
        is not uploaded.
      </p>
      <ErrorMessage error={problem} />
    </div>
  );
}

export function DocumentPage({ param, navigate }: PageProps): JSX.Element {
  const [typed, setTyped] = useState(param ?? '');
  const [fromFile, setFromFile] = useState<{ name: string; header: FileHeader } | undefined>(undefined);
  const [answer, setAnswer] = useState<DocumentAnswer | undefined>(undefined);
  const [error, setError] = useState('');

  useEffect(() => {
    setAnswer(undefined);
    setError('');
    if (param === undefined) return undefined;
    setTyped(param);
    if (!OBJECT_ID.test(param)) {
      setError('An object id is 22 base64url characters (the 16-byte object_id of the file header).');
      return undefined;
    }
    let current = true;
    auditApi.document(param).then(
      (found) => current && setAnswer(found),
      (e: unknown) => current && setError(describeError(e)),
    );
    return () => {
      current = false;
    };
  }, [param]);

  const show = (objectId: string) => navigate(`document/${encodeURIComponent(objectId)}`);
  const submit = (event: Event) => {
    event.preventDefault();
    setFromFile(undefined);
    show(typed.trim());
  };
  const readers = answer === undefined ? [] : readersOf(answer.releases);

  return (
    <section aria-labelledby="document-title">
      <h1 id="document-title">Document</h1>
      <p>Who opened a document: every release of its key shares, and every refusal.</p>
      <div class="panel document-inputs">
        <form onSubmit={submit} aria-label="Look up an object id">
          <label for="document-object-id">Object id</label>
          <input
            id="document-object-id"
            value={typed}
            onInput={(event) => setTyped(event.currentTarget.value)}
            required
            pattern="[A-Za-z0-9_\-]{21}[AQgw]"
            title="22 base64url characters"
            size={26}
          />{' '}
          <button type="submit">Show who opened it</button>
        </form>
        <FileHeaderInput
          onHeader={(name, header) => {
            setFromFile({ name, header });
            setTyped(header.objectId);
            show(header.objectId);
          }}
        />
      </div>
      <StatusLine>
        {fromFile === undefined ? null : (
          <>
            Read locally from <strong>{fromFile.name}</strong>: object id{' '}
            <code>{fromFile.header.objectId}</code>, format version {fromFile.header.version}, holders:{' '}
            {fromFile.header.holders
              .map((h) => (h.locator === '' ? `${h.type} ${h.keyId}` : `${h.type} ${h.locator}`))
              .join('; ')}
            .
          </>
        )}
      </StatusLine>
      <ErrorMessage error={error} />
      {answer === undefined ? null : (
        <div>
          <h2>
            Object <code>{answer.objectId}</code>
          </h2>
          <p class="document-summary">
            {answer.releases.length === 0
              ? 'Nobody has opened this object: the log has no release of it.'
              : `Opened ${answer.releases.length} time${answer.releases.length === 1 ? '' : 's'} by ${readers.length} ${
                  readers.length === 1 ? 'person' : 'people'
                }; ${answer.refusals.length} refusal${answer.refusals.length === 1 ? '' : 's'}.`}
            {answer.truncated ? ' Only the newest records are shown: the log has more for this object.' : ''}
          </p>
          {answer.keys.length === 0 ? null : (
            <table class="narrow">
              <caption>Revocation on each key</caption>
              <thead>
                <tr>
                  <th scope="col">Key</th>
                  <th scope="col">This object</th>
                </tr>
              </thead>
              <tbody>
                {answer.keys.map((key) => (
                  <tr key={key.keyName}>
                    <th scope="row">{key.keyName}</th>
                    <td>
                      {key.revoked ? (
                        <span class="result result-denied">revoked</span>
                      ) : (
                        <span class="result result-ok">not revoked</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {readers.length === 0 ? null : (
            <table>
              <caption>Who opened it</caption>
              <thead>
                <tr>
                  <th scope="col">User (or subject)</th>
                  <th scope="col">Issuer</th>
                  <th scope="col">Releases</th>
                  <th scope="col">First</th>
                  <th scope="col">Last</th>
                </tr>
              </thead>
              <tbody>
                {readers.map((reader) => (
                  <tr key={`${reader.issuer} ${reader.who}`}>
                    <th scope="row">{reader.who}</th>
                    <td>{reader.issuer}</td>
                    <td>{reader.count}</td>
                    <td>{utcTime(reader.first)}</td>
                    <td>{utcTime(reader.last)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {answer.releases.length === 0 ? null : (
            <RecordsTable
              caption="Releases"
              records={answer.releases}
              columns={['time', 'action', 'who', 'key', 'from', 'request']}
            />
          )}
          {answer.refusals.length === 0 ? (
            <p>No refusals.</p>
          ) : (
            <RecordsTable
              caption="Refusals"
              records={answer.refusals}
              columns={['time', 'action', 'result', 'reason', 'who', 'key', 'from']}
            />
          )}
          {answer.other.length === 0 ? null : (
            <RecordsTable
              caption="Other records naming this object"
              records={answer.other}
              columns={['time', 'action', 'result', 'reason', 'who', 'key']}
            />
          )}
        </div>
      )}
    </section>
  );
}
