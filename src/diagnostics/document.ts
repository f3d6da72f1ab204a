/**
 * The one reader for documents people write by hand (policies and enterprise
 * configs): JSON or YAML, chosen by the text itself, never by the file name.
 */
import { type JsonDocument, readJson } from './json.js';
import { readYaml } from './yaml.js';

/** The syntax a document was read as. */
export type DocumentSyntax = 'json' | 'yaml';

/** A read document and the syntax it was read as. */
export interface ReadDocument extends JsonDocument {
  readonly syntax: DocumentSyntax;
}

/**
 * The syntax of a text: JSON when its first character (after a byte order
 * mark and JSON whitespace) opens an object or array, YAML otherwise (blank
 * text included: YAML reads it as the empty document). Text that starts like
 * JSON is held to strict JSON, so a trailing comma in a JSON file is an error
 * rather than being accepted as a YAML flow collection.
 */
export function documentSyntax(text: string): DocumentSyntax {
  const start = /^\uFEFF?[ \t\r\n]*(.?)/.exec(text)?.[1];
  return start === '{' || start === '[' ? 'json' : 'yaml';
}

/**
 * Reads a document with the strict JSON reader or the YAML reader (see
 * {@link documentSyntax}); both give the same positions, issues and limits.
 * Never throws.
 */
export function readDocument(text: string): ReadDocument {
  const syntax = documentSyntax(text);
  return { ...(syntax === 'json' ? readJson(text) : readYaml(text)), syntax };
}
