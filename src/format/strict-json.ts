/**
 * A strict, bounded JSON reader for data an attacker may have written (JWE protected headers, key files).
 * JSON.parse silently keeps the last of two equal member names, so two parsers can disagree about what a
 * header says (RFC 8259 §4 leaves it open; RFC 7515 §4 and RFC 7516 §4 require rejecting or taking the
 * last). This scanner checks the RFC 8259 grammar itself, refuses any object with a repeated member name
 * (compared after unescaping, at every depth) and bounds length and nesting; only then does JSON.parse
 * build the value, on text the scanner has proven to be plain, unambiguous JSON.
 */

export interface StrictJsonLimits {
  /** Most UTF-16 code units accepted. */
  readonly maxLength: number;
  /** Most nested objects/arrays accepted (1 = a flat object). */
  readonly maxDepth: number;
}

export type StrictJsonResult =
  { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly reason: string };

class Rejected extends Error {}

const WHITESPACE = new Set([0x20, 0x09, 0x0a, 0x0d]);
const SIMPLE_ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const HEX4 = /[0-9A-Fa-f]{4}/y;

class Scanner {
  private at = 0;
  constructor(
    private readonly text: string,
    private readonly maxDepth: number,
  ) {}

  document(): void {
    this.value(0);
    this.skipWhitespace();
    if (this.at !== this.text.length) throw new Rejected('text after the JSON value');
  }

  private skipWhitespace(): void {
    while (this.at < this.text.length && WHITESPACE.has(this.text.charCodeAt(this.at))) this.at++;
  }

  private value(depth: number): void {
    this.skipWhitespace();
    const char = this.text[this.at];
    if (char === '{') this.object(depth + 1);
    else if (char === '[') this.array(depth + 1);
    else if (char === '"') this.string();
    else if (!this.literal('true') && !this.literal('false') && !this.literal('null')) this.number();
  }

  private literal(word: string): boolean {
    if (!this.text.startsWith(word, this.at)) return false;
    this.at += word.length;
    return true;
  }

  private number(): void {
    NUMBER.lastIndex = this.at;
    if (!NUMBER.test(this.text)) throw new Rejected('not a JSON value');
    this.at = NUMBER.lastIndex;
  }

  /** Scans a string token; returns its text, quotes included (JSON.parse of it is the decoded value). */
  private string(): string {
    const start = this.at;
    this.at++; // opening quote
    for (;;) {
      if (this.at >= this.text.length) throw new Rejected('unterminated string');
      const code = this.text.charCodeAt(this.at);
      if (code === 0x22) break;
      if (code < 0x20) throw new Rejected('control character in a string');
      if (code === 0x5c) {
        const escape = this.text[this.at + 1] ?? '';
        if (SIMPLE_ESCAPES.has(escape)) this.at += 2;
        else if (escape === 'u') {
          HEX4.lastIndex = this.at + 2;
          if (!HEX4.test(this.text)) throw new Rejected('bad \\u escape');
          this.at += 6;
        } else throw new Rejected('bad escape');
      } else this.at++;
    }
    this.at++; // closing quote
    return this.text.slice(start, this.at);
  }

  private enter(depth: number): void {
    if (depth > this.maxDepth) throw new Rejected('nested too deeply');
    this.at++; // opening bracket
    this.skipWhitespace();
  }

  private object(depth: number): void {
    this.enter(depth);
    const names = new Set<string>();
    if (this.text[this.at] === '}') {
      this.at++;
      return;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.at] !== '"') throw new Rejected('member name is not a string');
      // Compared decoded, so "oid" and "\u006fid" are the same name.
      const name = JSON.parse(this.string()) as string;
      if (names.has(name)) throw new Rejected('duplicate member name');
      names.add(name);
      this.skipWhitespace();
      if (this.text[this.at] !== ':') throw new Rejected('missing colon');
      this.at++;
      this.value(depth);
      this.skipWhitespace();
      const next = this.text[this.at++];
      if (next === '}') return;
      if (next !== ',') throw new Rejected('missing comma or closing brace');
    }
  }

  private array(depth: number): void {
    this.enter(depth);
    if (this.text[this.at] === ']') {
      this.at++;
      return;
    }
    for (;;) {
      this.value(depth);
      this.skipWhitespace();
      const next = this.text[this.at++];
      if (next === ']') return;
      if (next !== ',') throw new Rejected('missing comma or closing bracket');
    }
  }
}

/** Parses `text` as one JSON value; refuses bad grammar, repeated member names and texts over the limits. */
export function parseStrictJson(text: string, limits: StrictJsonLimits): StrictJsonResult {
  if (text.length > limits.maxLength) return { ok: false, reason: 'too long' };
  try {
    new Scanner(text, limits.maxDepth).document();
  } catch (error) {
    if (error instanceof Rejected) return { ok: false, reason: error.message };
    throw error;
  }
  return { ok: true, value: JSON.parse(text) as unknown };
}
