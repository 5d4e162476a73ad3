/**
 * Users from an htpasswd file: `user:hash` lines, bcrypt hashes only
 * (`$2y$`, `$2a$`, `$2b$`, as `htpasswd -B` writes them); blank lines and
 * `#` comments are skipped. Any other hash type is refused when the file is
 * loaded, naming the line.
 *
 * verify() costs one bcrypt comparison whether or not the user exists (an
 * unknown user is compared against a dummy hash of the most common cost), so
 * response times do not reveal which users exist.
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

function commonCost(hashes: Iterable<string>): number {
  const counts = new Map<number, number>();
  for (const h of hashes) {
    const cost = Number(h.slice(4, 6));
    counts.set(cost, (counts.get(cost) ?? 0) + 1);
  }
  let best = 10;
  let bestCount = 0;
  for (const [cost, count] of counts) if (count > bestCount) [best, bestCount] = [cost, count];
  return best;
}

export class UserStore {
  private readonly dummyHash: string;

  constructor(private readonly users: ReadonlyMap<string, string>) {
    this.dummyHash = bcrypt.hashSync('dummy password for unknown users', commonCost(users.values()));
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

  /** Whether `password` is `user`'s; one bcrypt comparison either way. */
  async verify(user: string, password: string): Promise<boolean> {
    const hash = this.users.get(user);
    const ok = await bcrypt.compare(password, hash ?? this.dummyHash);
    return ok && hash !== undefined;
  }
}
