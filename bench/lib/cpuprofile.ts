/**
 * Summarizes a V8 .cpuprofile (node --cpu-prof): self time per function and
 * per area (our source file, a package, node internals, GC, idle), optionally
 * restricted to a time window in the monotonic clock (the clock of
 * process.hrtime, which V8's profile timestamps also use), so that one
 * profile of a server can be cut into the scenarios that ran against it.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface SelfTimeEntry {
  readonly name: string;
  readonly where: string;
  readonly area: string;
  readonly ms: number;
  /** Share of the busy (non-idle) time of the window, %. */
  readonly pct: number;
}

export interface ProfileSummary {
  readonly windowMs: number;
  readonly busyMs: number;
  readonly idleMs: number;
  readonly functions: SelfTimeEntry[];
  readonly areas: { area: string; ms: number; pct: number }[];
  /** Inclusive time of our own source files' functions (callers of the hot spots). */
  readonly ownInclusive: { name: string; where: string; ms: number; pct: number }[];
}

function shortUrl(url: string): string {
  if (url === '') return '';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('/node_modules/');
  if (nm >= 0) return u.slice(nm + '/node_modules/'.length);
  const dist = u.indexOf('/dist/');
  if (dist >= 0) u = u.slice(dist + 1);
  return u;
}

/** The area a frame belongs to: (gc)/(idle)/(program), node:internal, a package, or our file. */
export function areaOf(frame: CallFrame): string {
  const fn = frame.functionName;
  if (fn === '(garbage collector)') return '(garbage collector)';
  if (fn === '(idle)') return '(idle)';
  if (fn === '(program)') return '(program: native, not attributed)';
  if (fn === '(root)') return '(root)';
  const url = frame.url;
  if (url === '') return '(native / builtin)';
  if (url.startsWith('node:')) {
    const m = /^node:(internal\/)?([^/]+(?:\/[^/]+)?)/.exec(url);
    return `node:${m ? (m[1] ?? '') + m[2] : url}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
  }
  return shortUrl(url);
}

/** Sample timestamps, µs, in the profile's (monotonic) clock. */
function timestamps(p: CpuProfile): number[] {
  const ts = new Array<number>(p.samples.length);
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    ts[i] = t;
  }
  return ts;
}

/**
 * Self and area time within [fromUs, toUs] (µs, monotonic; whole profile when
 * omitted). Each sample lasts until the next one.
 */
export function summarize(p: CpuProfile, top = 25, fromUs = -Infinity, toUs = Infinity): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ts = timestamps(p);
  const self = new Map<number, number>();
  let windowUs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const t = ts[i]!;
    if (t < fromUs || t > toUs) continue;
    const dur = (i + 1 < ts.length ? ts[i + 1]! : p.endTime) - t;
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dur);
    windowUs += dur;
  }
  const fnTime = new Map<string, { name: string; where: string; area: string; us: number }>();
  const areaTime = new Map<string, number>();
  const inclusive = new Map<string, { name: string; where: string; us: number }>();
  let idleUs = 0;
  for (const [id, us] of self) {
    const node = byId.get(id);
    if (!node) continue;
    const f = node.callFrame;
    const area = areaOf(f);
    if (area === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : '';
    const key = `${f.functionName}|${where}`;
    const e = fnTime.get(key) ?? { name: f.functionName || '(anonymous)', where, area, us: 0 };
    e.us += us;
    fnTime.set(key, e);
    areaTime.set(area, (areaTime.get(area) ?? 0) + us);
    // Inclusive time of our own frames on the stack (each counted once per sample).
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const cf = byId.get(cur)?.callFrame;
      if (!cf || !cf.url.includes('/dist/src/')) continue;
      const k = `${cf.functionName}|${shortUrl(cf.url)}:${cf.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      const inc = inclusive.get(k) ?? { name: cf.functionName || '(anonymous)', where: `${shortUrl(cf.url)}:${cf.lineNumber + 1}`, us: 0 };
      inc.us += us;
      inclusive.set(k, inc);
    }
  }
  const busyUs = windowUs - idleUs;
  const pct = (us: number) => (busyUs > 0 ? (100 * us) / busyUs : 0);
  return {
    windowMs: windowUs / 1000,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    functions: [...fnTime.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, area: e.area, ms: e.us / 1000, pct: pct(e.us) })),
    areas: [...areaTime.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => ({ area, ms: us / 1000, pct: pct(us) })),
    ownInclusive: [...inclusive.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, ms: e.us / 1000, pct: pct(e.us) })),
  };
}

export function renderSummary(title: string, s: ProfileSummary, top = 15): string {
  const lines: string[] = [];
  lines.push(`== ${title}: window ${s.windowMs.toFixed(0)} ms, busy ${s.busyMs.toFixed(0)} ms (${s.windowMs > 0 ? ((100 * s.busyMs) / s.windowMs).toFixed(0) : 0}% of the main thread), idle ${s.idleMs.toFixed(0)} ms`);
  lines.push('  areas (self time, % of busy):');
  for (const a of s.areas.slice(0, 12)) lines.push(`    ${a.pct.toFixed(1).padStart(5)}%  ${a.ms.toFixed(0).padStart(7)} ms  ${a.area}`);
  lines.push('  top functions (self time):');
  for (const f of s.functions.slice(0, top)) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`);
  lines.push('  our functions (inclusive time):');
  for (const f of s.ownInclusive.slice(0, 10)) lines.push(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.ms.toFixed(0).padStart(7)} ms  ${f.name}  ${f.where}`);
  return lines.join('\n');
}
