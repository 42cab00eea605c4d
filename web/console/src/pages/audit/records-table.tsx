/** The audit records table (Audit page; the Document page's lists): one row per record, newest first. */
import type { JSX } from 'preact';
import { keyOf, utcTime, whoOf, type AuditRecordView } from './records.js';

export type Column = 'time' | 'action' | 'result' | 'reason' | 'who' | 'key' | 'object' | 'from' | 'request';

const HEADINGS: Record<Column, string> = {
  time: 'Time',
  action: 'Action',
  result: 'Result',
  reason: 'Reason',
  who: 'User (subject)',
  key: 'Key',
  object: 'Object id',
  from: 'Client address',
  request: 'Request id',
};

export const ALL_COLUMNS: readonly Column[] = [
  'time',
  'action',
  'result',
  'reason',
  'who',
  'key',
  'object',
  'from',
  'request',
];

interface Props {
  readonly caption: string;
  readonly records: readonly AuditRecordView[];
  readonly columns?: readonly Column[];
  /** Opens the Document page of an object id (links in the object column). */
  readonly openDocument?: (objectId: string) => void;
  /** Rows with a seq above this are marked as new (live updates). */
  readonly newAbove?: number;
}

function cell(column: Column, record: AuditRecordView, props: Props): JSX.Element | string {
  switch (column) {
    case 'time':
      return <time dateTime={record.time}>{utcTime(record.time)}</time>;
    case 'action':
      return record.action;
    case 'result':
      return <span class={`result result-${record.result}`}>{record.result}</span>;
    case 'reason':
      return record.reason ?? '';
    case 'who':
      return (
        <span title={record.issuer === undefined ? undefined : `issuer ${record.issuer}`}>
          {whoOf(record)}
          {record.userName !== undefined && record.subject !== undefined ? (
            <span class="sub"> ({record.subject})</span>
          ) : null}
        </span>
      );
    case 'key':
      return keyOf(record);
    case 'object': {
      const objectId = record.objectId;
      if (objectId === undefined) return '';
      const open = props.openDocument;
      return open === undefined ? (
        <code>{objectId}</code>
      ) : (
        <a
          href={`#document/${encodeURIComponent(objectId)}`}
          onClick={(event) => {
            event.preventDefault();
            open(objectId);
          }}
          aria-label={`Who opened ${objectId}`}
        >
          <code>{objectId}</code>
        </a>
      );
    }
    case 'from':
      return record.clientAddress ?? '';
    case 'request':
      return record.requestId === undefined ? '' : <code class="request">{record.requestId}</code>;
  }
}

export function RecordsTable(props: Props): JSX.Element {
  const columns = props.columns ?? ALL_COLUMNS;
  return (
    <div class="table-scroll">
      <table class="records">
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {columns.map((column) => (
              <th scope="col" key={column}>
                {HEADINGS[column]}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {props.records.map((record) => (
            <tr
              key={record.seq}
              data-seq={record.seq}
              class={props.newAbove !== undefined && record.seq > props.newAbove ? 'new' : undefined}
            >
              {columns.map((column) => (
                <td key={column}>{cell(column, record, props)}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
