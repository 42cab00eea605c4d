/**
 * PostgreSQL TEXT cannot hold U+0000, but an audit record's fields (a token's subject, a user name) may
 * contain it, and the record's hash covers the exact text. Such values are stored escaped: U+FFFF (a
 * noncharacter, reserved for internal use) is the escape, U+FFFF '0' stands for U+0000 and U+FFFF '1' for
 * U+FFFF itself. Every string without either character, i.e. every realistic one, is stored verbatim.
 * The encoding is injective, so equality lookups compare the encoded parameter with the stored column.
 */
const ESCAPE = '\uffff';
const NUL = '\u0000';

export function encodeText(value: string): string;
export function encodeText(value: string | null): string | null;
export function encodeText(value: string | null): string | null {
  if (value === null || !(value.includes(NUL) || value.includes(ESCAPE))) return value;
  return value.replaceAll(ESCAPE, `${ESCAPE}1`).replaceAll(NUL, `${ESCAPE}0`);
}

export function decodeText(value: string): string;
export function decodeText(value: string | null): string | null;
export function decodeText(value: string | null): string | null {
  if (value === null || !value.includes(ESCAPE)) return value;
  return value.replace(/\uffff([01]?)/g, (_, digit: string) => {
    if (digit === '0') return NUL;
    if (digit === '1') return ESCAPE;
    // Never written by encodeText: a value put there by other means. Keep it rather than guess.
    return ESCAPE;
  });
}
