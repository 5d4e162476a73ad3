/**
 * Users from an htpasswd file: `user:hash` lines, bcrypt hashes only
 * (`$2y$`, `$2a$`, `$2b$`, as `htpasswd -B` writes them); blank lines and
 * `#` comments are skipped. Any other hash type is refused when the file is
 * loaded, naming the line.
 *
 * verify() costs the work of one bcrypt comparison at the file's highest
 * cost, whether or not the user exists and whatever the user's own cost: an
 * unknown user is compared against a dummy hash of the highest cost, and a
 * user of cost c < max is padded with dummy comparisons of costs c … max-1
 * (2^c + 2^c + 2^(c+1) + … + 2^(max-1) = 2^max rounds), so response times do
 * not reveal which users exist. A file with one cost needs no padding.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';

const BCRYPT_RE = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

export class HtpasswdError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HtpasswdError';
  }
}

/** Parses htpasswd text; `source` names the file in error messages. */
export function parseHtpasswd(text: string, source = 'htpasswd'): Map<string, string> {
  const users = new Map<string, string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const where = `${source} line ${i + 1}`;
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HtpasswdError(`${where}: expected user:hash`);
    const user = line.slice(0, colon);
    const hash = line.slice(colon + 1);
    if (users.has(user)) throw new HtpasswdError(`${where}: user ${JSON.stringify(user)} appears twice`);
    const m = BCRYPT_RE.exec(hash);
    if (!m) {
      const kind = hash.startsWith('$apr1$') ? 'an MD5 ($apr1$)' : hash.startsWith('{SHA}') ? 'a SHA-1 ({SHA})' : hash.startsWith('$') ? 'an unsupported' : 'a crypt or plain-text';
      throw new HtpasswdError(
        `${where}: user ${JSON.stringify(user)} has ${kind} password hash; only bcrypt ($2y$, $2a$, $2b$) is accepted: recreate it with htpasswd -B`,
      );
    }
    const cost = Number(m[1]);
    if (cost < 4 || cost > 31) throw new HtpasswdError(`${where}: bcrypt cost ${cost} is out of range 4..31`);
    users.set(user, hash);
  });
  return users;
}

/** The bcrypt cost of a hash accepted by parseHtpasswd. */
function costOf(hash: string): number {
  return Number(hash.slice(4, 6));
}

/** The cost of the dummy hash of an empty file. */
const DEFAULT_COST = 10;

export class UserStore {
  /** Dummy hashes by cost, from the lowest cost of the file to the highest. */
  private readonly dummies = new Map<number, string>();
  /** The highest cost of the file: every verify() costs one comparison at it. */
  readonly maxCost: number;

  constructor(private readonly users: ReadonlyMap<string, string>) {
    const costs = this.costs();
    this.maxCost = costs.length > 0 ? costs[costs.length - 1]! : DEFAULT_COST;
    for (let c = costs[0] ?? this.maxCost; c <= this.maxCost; c++) this.dummies.set(c, bcrypt.hashSync('dummy password for timing', c));
  }

  /** The distinct bcrypt costs of the file, ascending. */
  costs(): number[] {
    return [...new Set([...this.users.values()].map(costOf))].sort((a, b) => a - b);
  }

  /** Reads and parses an htpasswd file. Throws HtpasswdError (or the read error) naming the file. */
  static async load(path: string): Promise<UserStore> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      throw new HtpasswdError(`cannot read htpasswd file ${path}: ${err instanceof Error ? err.message : String(err)}`);
    }
    return new UserStore(parseHtpasswd(text, path));
  }

  static fromText(text: string, source?: string): UserStore {
    return new UserStore(parseHtpasswd(text, source));
  }

  has(user: string): boolean {
    return this.users.has(user);
  }

  get size(): number {
    return this.users.size;
  }

  /** A short digest of `user`'s password hash: it changes when the password does (binds refresh tokens). */
  passwordVersion(user: string): string | undefined {
    const hash = this.users.get(user);
    return hash === undefined ? undefined : createHash('sha256').update(hash).digest('base64url').slice(0, 16);
  }

  /** Whether `password` is `user`'s; the work of one comparison at maxCost either way. */
  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    if (hash === undefined) {
      await bcrypt.compare(password, this.dummies.get(this.maxCost)!);
      return false;
    }
    const ok = await bcrypt.compare(password, hash);
    for (let c = costOf(hash); c < this.maxCost; c++) await bcrypt.compare(password, this.dummies.get(c)!);
    return ok;
  }
}
