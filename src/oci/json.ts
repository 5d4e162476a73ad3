/**
 * JSON documents of the image spec as I-JSON (RFC 7493), which image-spec
 * requires of them: UTF-8 with no invalid sequence (§2.1), no member name
 * twice in one object (§2.3), no lone surrogate and no noncharacter in a name
 * or string (§2.1), no number beyond a double's range (§2.2: 1E400). A
 * document that is not I-JSON could be read differently by different
 * clients (which of two `digest` members wins?), so it is refused whole.
 */
import { visit } from 'jsonc-parser';

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// Unicode noncharacters: U+FDD0..U+FDEF and the last two code points of every plane.
const NONCHARACTER = /[\uFDD0-\uFDEF\uFFFE\uFFFF]|[\uD83F\uD87F\uD8BF\uD8FF\uD93F\uD97F\uD9BF\uD9FF\uDA3F\uDA7F\uDABF\uDAFF\uDB3F\uDB7F\uDBBF\uDBFF][\uDFFE\uDFFF]/;

// Any surrogate or BMP noncharacter: the rare strings worth the two exact tests.
const SUSPECT = /[\uD800-\uDFFF\uFDD0-\uFDEF\uFFFE\uFFFF]/;

/** Why a string breaks RFC 7493 §2.1, or undefined. */
function badString(value: string): string | undefined {
  if (!SUSPECT.test(value)) return undefined;
  if (LONE_SURROGATE.test(value)) return 'contains an unpaired surrogate';
  if (NONCHARACTER.test(value)) return 'contains a Unicode noncharacter';
  return undefined;
}

const shown = (value: string) => JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);

/**
 * Parses `bytes` as an I-JSON document. Throws an Error saying what is wrong
 * (and where, for a duplicate name); a RangeError when nested too deeply.
 */
export function parseIJson(bytes: Uint8Array): unknown {
  let text: string;
  try {
    text = UTF8.decode(bytes);
  } catch {
    throw new Error('the document is not valid UTF-8');
  }
  const value: unknown = JSON.parse(text);
  const names: Set<string>[] = [];
  let problem: string | undefined;
  const fail = (message: string) => {
    problem ??= message;
  };
  visit(
    text,
    {
      onObjectBegin: () => {
        names.push(new Set());
      },
      onObjectEnd: () => {
        names.pop();
      },
      onObjectProperty: (name, _offset, _length, line, column) => {
        const seen = names[names.length - 1]!;
        if (seen.has(name)) fail(`member name ${shown(name)} appears twice in one object (line ${line + 1}, column ${column + 1})`);
        seen.add(name);
        const bad = badString(name);
        if (bad) fail(`member name ${shown(name)} ${bad}`);
      },
      onLiteralValue: (literal: unknown) => {
        if (typeof literal === 'string') {
          const bad = badString(literal);
          if (bad) fail(`string ${shown(literal)} ${bad}`);
        } else if (typeof literal === 'number' && !Number.isFinite(literal)) {
          fail('a number exceeds the range of a double');
        }
      },
    },
    { disallowComments: true, allowTrailingComma: false },
  );
  if (problem !== undefined) throw new Error(problem);
  return value;
}
