/**
 * The configuration schema (schema/config.schema.json, shipped in the
 * package) and the one validation of settings against it: the file's tree
 * with the flags and environment variables laid over it is checked here,
 * defaults are filled in from the schema, and every error is a ConfigError
 * naming the key (`limits.maxUploadSize: must be …`) and where its value came
 * from (a flag, a variable or the file).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';

/** A bad flag, variable or file setting; the binary prints the message and exits with `exitCode` (2). */
export class ConfigError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The published schema, relative to this compiled file (dist/src/server → schema/). */
export const SCHEMA_FILE = fileURLToPath(new URL('../../../schema/config.schema.json', import.meta.url));

type Json = Record<string, unknown>;
type SchemaNode = Json & { type?: string | string[]; title?: string; properties?: Record<string, SchemaNode>; $ref?: string; enum?: unknown[] };

export const CONFIG_SCHEMA: Json = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as Json;

const ajv = new Ajv({ useDefaults: true, allErrors: false, verbose: true, strict: true, allowUnionTypes: true });
ajv.addSchema(CONFIG_SCHEMA, 'config');
const validateTree = ajv.getSchema('config') as ValidateFunction;
const sectionValidators = new Map<string, ValidateFunction>();

/** Where each key's value came from: `--flag`, `FERRO_OCI_*`, or the file's path for the rest of a file tree. */
export class Sources {
  private readonly byKey = new Map<string, string>();
  constructor(readonly file?: string) {}

  set(key: string, source: string): void {
    this.byKey.set(key, source);
  }

  /** The source of `key`: its own, else that of the nearest enclosing key, else one beneath it, else the file. */
  of(key: string): string | undefined {
    for (let k = key; k !== ''; k = k.replace(/(\.[^.[\]]+|\[\d+\]|^[^.[\]]+)$/, '')) {
      const own = this.byKey.get(k);
      if (own !== undefined) return own;
    }
    for (const [k, source] of this.byKey) if (k.startsWith(`${key}.`)) return source;
    return this.file;
  }

  /** A ConfigError for `key`: `key: why (from SOURCE)`; the source is that of `at` (default `key`). */
  error(key: string, why: string, at = key): ConfigError {
    const source = this.of(at);
    return new ConfigError(`${key}: ${why}${source !== undefined ? ` (from ${source})` : ''}`);
  }
}

/** `/limits/maxUploadSize` → `limits.maxUploadSize`; `/auth/rules/0` → `auth.rules[0]`. */
function keyOf(pointer: string, prefix: string): string {
  let key = prefix;
  for (const part of pointer.split('/').slice(1).map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))) {
    key += /^\d+$/.test(part) ? `[${part}]` : key === '' ? part : `.${part}`;
  }
  return key || 'configuration';
}

function resolveRef(node: SchemaNode): SchemaNode {
  let n = node;
  while (typeof n.$ref === 'string') {
    const target = (ajv.getSchema(`config${n.$ref}`)?.schema ?? {}) as SchemaNode;
    n = { ...target, ...n, $ref: undefined } as SchemaNode;
  }
  return n;
}

/** What a value under `schema` must be, in words: "an integer from 1 to 100", "true or false", … */
export function describeSchema(schema: SchemaNode): string {
  const s = resolveRef(schema);
  if (typeof s.title === 'string') return s.title;
  if (Array.isArray(s.enum)) return `one of ${s.enum.join(', ')}`;
  const range = s.minimum !== undefined && s.maximum !== undefined ? ` from ${String(s.minimum)} to ${String(s.maximum)}` : '';
  switch (s.type) {
    case 'integer':
      return `an integer${range}`;
    case 'number':
      return `a number${range}`;
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a non-empty string';
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping';
    default:
      return 'valid';
  }
}

/** The key at fault, why, and `at`: the key whose value is at fault (the mapping, for a missing or unknown key). */
function message(error: ErrorObject, prefix: string): { key: string; why: string; at: string } {
  const at = keyOf(error.instancePath, prefix);
  return { at, ...explain(error, at) };
}

function explain(error: ErrorObject, key: string): { key: string; why: string } {
  const parent = (error.parentSchema ?? {}) as SchemaNode;
  switch (error.keyword) {
    case 'additionalProperties': {
      const known = Object.keys(parent.properties ?? {});
      const extra = String((error.params as { additionalProperty: string }).additionalProperty);
      return { key: `${key}.${extra}`, why: `unknown setting${known.length > 0 ? `; expected one of ${known.join(', ')}` : ''}` };
    }
    case 'required':
      return { key: `${key}.${String((error.params as { missingProperty: string }).missingProperty)}`, why: 'is required' };
    case 'minItems':
      return { key, why: 'must not be empty' };
    default:
      return { key, why: `must be ${describeSchema(parent)}` };
  }
}

/** 1024-based units for sizes: "4MiB", "1 TiB", "512KB" (KB = KiB here), "1073741824". */
const SIZE_UNITS: Record<string, number> = { B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4, P: 1024 ** 5 };

/** A size string as a number of bytes; undefined when it is not one (the schema's pattern then refuses it). */
export function parseSize(text: string): number | undefined {
  const m = /^([0-9]+(?:\.[0-9]+)?) ?(?:([KMGTP])i?B|B)?$/.exec(text);
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_UNITS[m[2] ?? 'B']!);
}

/** Converts the size strings the schema allows (definitions/size) under `tree` to byte counts, in place. */
function convertSizes(tree: Json, schema: SchemaNode): void {
  for (const [name, sub] of Object.entries(schema.properties ?? {})) {
    const value = tree[name];
    if (sub.$ref === '#/definitions/size' && typeof value === 'string') {
      const bytes = parseSize(value);
      if (bytes !== undefined) tree[name] = bytes;
    } else if (sub.properties && typeof value === 'object' && value !== null && !Array.isArray(value)) {
      convertSizes(value as Json, sub);
    }
  }
}

/**
 * Validates `tree` (a whole configuration) in place: sizes become byte
 * counts and the schema's defaults are filled in. Throws the ConfigError of
 * the first problem.
 */
export function validateConfig(tree: Json, sources: Sources): void {
  convertSizes(tree, CONFIG_SCHEMA as SchemaNode);
  if (validateTree(tree)) return;
  const { key, why, at } = message(validateTree.errors![0]!, '');
  throw sources.error(key, why, at);
}

/** Validates one section (e.g. `auth`) given on its own, in place (defaults filled in). */
export function validateSection(section: string, value: unknown, sources: Sources, at = section): void {
  let validate = sectionValidators.get(section);
  if (!validate) {
    validate = ajv.compile({ $ref: `config#/properties/${section}` });
    sectionValidators.set(section, validate);
  }
  if (validate(value)) return;
  const error = message(validate.errors![0]!, at);
  throw sources.error(error.key, error.why, error.at);
}
