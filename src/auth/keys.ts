/**
 * Token keys. The built-in issuer signs with an ES256 (EC P-256) private key
 * kept in a PKCS#8 PEM file: generated on first start when the file is
 * absent (created exclusively with mode 0600, fsync'd, never overwritten),
 * read as is afterwards. An external issuer is trusted through its public key
 * (SPKI PEM or an X.509 certificate PEM).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, X509Certificate, type KeyObject } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';

export class KeyFileError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeyFileError';
  }
}

export interface SigningKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** True when this call generated the file. */
  readonly created: boolean;
  /** True when the existing file is readable by group or others. */
  readonly insecureMode: boolean;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function asSigningKey(pem: string, path: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new KeyFileError(`token key file ${path} is not a PEM private key: ${messageOf(err)}`, { cause: err });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new KeyFileError(`token key file ${path} must hold an EC P-256 private key (ES256); it holds ${key.asymmetricKeyType ?? 'another'} key`);
  }
  return key;
}

async function createKeyFile(path: string): Promise<boolean> {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(pem);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await chmod(tmp, 0o600); // whatever the umask
    await link(tmp, path); // fails when another process created it first: theirs wins
    const dir = await open(dirname(path), 'r');
    await dir.sync().finally(() => dir.close());
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await unlink(tmp).catch(() => undefined);
  }
}

/** Reads the signing key at `path`, generating it first when the file does not exist. */
export async function loadOrCreateSigningKey(path: string): Promise<SigningKey> {
  let created = false;
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new KeyFileError(`cannot read token key file ${path}: ${messageOf(err)}`, { cause: err });
    try {
      created = await createKeyFile(path);
      pem = await readFile(path, 'utf8');
    } catch (e) {
      throw new KeyFileError(`cannot create token key file ${path}: ${messageOf(e)}`, { cause: e });
    }
  }
  const privateKey = asSigningKey(pem, path);
  const mode = (await stat(path)).mode;
  return { privateKey, publicKey: createPublicKey(privateKey), created, insecureMode: (mode & 0o077) !== 0 };
}

/** The JWS algorithms a public key may verify; never HMAC, never `none`. */
export function algorithmsFor(key: KeyObject): string[] {
  switch (key.asymmetricKeyType) {
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return ['ES256'];
      if (curve === 'secp384r1') return ['ES384'];
      if (curve === 'secp521r1') return ['ES512'];
      throw new KeyFileError(`unsupported EC curve ${curve ?? '?'}`);
    }
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ed25519':
      return ['EdDSA', 'Ed25519'];
    default:
      throw new KeyFileError(`unsupported key type ${key.asymmetricKeyType ?? '?'}`);
  }
}

/** Reads an external issuer's public key: an SPKI public key PEM or an X.509 certificate PEM. */
export async function loadPublicKey(path: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(path, 'utf8');
  } catch (err) {
    throw new KeyFileError(`cannot read token issuer public key ${path}: ${messageOf(err)}`, { cause: err });
  }
  try {
    const key = pem.includes('BEGIN CERTIFICATE') ? new X509Certificate(pem).publicKey : createPublicKey(pem);
    if (key.type !== 'public') throw new Error('not a public key');
    algorithmsFor(key);
    return key;
  } catch (err) {
    throw new KeyFileError(`token issuer public key ${path} is not a usable public key PEM or certificate: ${messageOf(err)}`, { cause: err });
  }
}
