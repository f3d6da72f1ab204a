/** The JSON reader moved to the diagnostics module; these names stay for existing importers. */
export { type JsonDocument, type Position, readJson, sortKeysDeep } from '../diagnostics/json.js';
