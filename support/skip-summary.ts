/**
 * The `npm test` reporter: node's spec reporter, with the run's summary
 * preceded by every skipped test or suite and its reason (e.g. the command
 * that installs a missing service), so the reasons stand in the summary
 * instead of scrolling past. The summary's closing lines stay the runner's.
 */
import { finished } from 'node:stream/promises';
import { spec as Spec } from 'node:test/reporters';

interface TestEvent {
  readonly type: string;
  readonly data: { readonly name?: string; readonly file?: string; readonly skip?: string | boolean; readonly nesting?: number; readonly message?: string };
}

/** The skipped tests by reason, as diagnostic events (spec prints them as "ℹ" lines). */
function skipLines(skipped: Map<string, string[]>): TestEvent[] {
  const lines: string[] = [];
  for (const [reason, tests] of skipped) {
    lines.push(`skipped: ${reason}`);
    for (const t of tests.slice(0, 5)) lines.push(`  ${t}`);
    if (tests.length > 5) lines.push(`  … and ${tests.length - 5} more`);
  }
  return lines.map((message) => ({ type: 'test:diagnostic', data: { nesting: 0, message } }));
}

async function* withSkipSummary(source: AsyncIterable<TestEvent>): AsyncGenerator<TestEvent> {
  const skipped = new Map<string, string[]>();
  let summarized = false;
  for await (const event of source) {
    const { data } = event;
    if (event.type === 'test:pass' && data.skip !== undefined && data.skip !== false) {
      const reason = data.skip === true ? '(no reason given)' : data.skip;
      const file = data.file === undefined ? '' : ` (${data.file.replace(`${process.cwd()}/`, '')})`;
      skipped.set(reason, [...(skipped.get(reason) ?? []), `${data.name ?? '?'}${file}`]);
    }
    if (!summarized && event.type === 'test:diagnostic' && data.nesting === 0 && /^tests \d+$/.test(data.message ?? '')) {
      summarized = true;
      yield* skipLines(skipped);
    }
    yield event;
  }
}

/** An async generator function (node instantiates a reporter with a prototype constructor; this has none). */
export default async function* skipSummary(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  const spec = new Spec();
  const out: string[] = [];
  spec.on('data', (chunk: unknown) => out.push(String(chunk)));
  const ended = finished(spec);
  for await (const event of withSkipSummary(source)) {
    spec.write(event);
    await new Promise((resolve) => setImmediate(resolve));
    yield* out.splice(0);
  }
  spec.end();
  await ended;
  yield* out.splice(0);
}
