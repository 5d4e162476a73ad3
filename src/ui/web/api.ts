/**
 * The UI's calls to the registry's JSON API (/v2/_ferro/ui, docs/ui.md) and
 * its sign-in: Basic credentials in basic mode, a token from the registry's
 * token endpoint in token mode (renewed with its refresh token). What the
 * sign-in yields is kept in sessionStorage: it ends with the browser tab.
 * Every call is made with `credentials: 'omit'` (the Authorization header is
 * set here): a 401 with its WWW-Authenticate challenge then never opens the
 * browser's own login dialog (Fetch standard, HTTP-network-or-cache fetch:
 * it prompts only when credentials are included).
 */
export const API = '/v2/_ferro/ui';
const STORAGE_KEY = 'ferro-oci-ui-auth';

export interface Session {
  readonly auth: 'none' | 'basic' | 'token';
  readonly user?: string;
  readonly service?: string;
  readonly tokenPath?: string;
}

interface Stored {
  readonly authorization: string;
  readonly user: string;
  readonly refresh?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function stored(): Stored | undefined {
  try {
    const text = sessionStorage.getItem(STORAGE_KEY);
    return text ? (JSON.parse(text) as Stored) : undefined;
  } catch {
    return undefined;
  }
}

function store(value: Stored | undefined): void {
  if (value) sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(STORAGE_KEY);
}

async function failure(res: Response): Promise<ApiError> {
  let code = 'UNKNOWN';
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { errors?: Array<{ code?: string; message?: string }> };
    const first = body.errors?.[0];
    if (first?.code) code = first.code;
    if (first?.message) message = first.message;
  } catch {
    // not the error envelope: keep the status line
  }
  return new ApiError(res.status, code, message);
}

let cachedSession: Session | undefined;

/** Calls `module` of the API; a 401 with a refresh token renews the token once and retries. */
export async function api<T>(module: string, params: Record<string, string | number | boolean | undefined> = {}, method = 'GET'): Promise<T> {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '' && v !== false) query.set(k, String(v));
  const url = `${API}/${module}${query.size > 0 ? `?${query}` : ''}`;
  const send = () => {
    const auth = stored();
    return fetch(url, { method, headers: auth ? { Authorization: auth.authorization } : {}, cache: 'no-store', credentials: 'omit' });
  };
  let res = await send();
  if (res.status === 401 && stored()?.refresh && (await renew())) res = await send();
  if (res.status === 401 && stored()) {
    store(undefined); // expired or revoked: signed out
    cachedSession = undefined;
  }
  if (!res.ok) throw await failure(res);
  const body = (await res.json()) as T & { session?: Session };
  if (body.session) cachedSession = body.session;
  return body;
}

/** How to sign in here and who is signed in (cached for the page's life; the repositories answer refreshes it). */
export async function session(): Promise<Session> {
  cachedSession ??= await api<Session>('session');
  return cachedSession;
}

async function tokenRequest(s: Session, form: Record<string, string>): Promise<{ access_token: string; refresh_token?: string }> {
  const res = await fetch(s.tokenPath!, { method: 'POST', credentials: 'omit', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ service: s.service ?? '', client_id: 'ferro-oci-ui', ...form }) });
  if (!res.ok) throw await failure(res);
  return (await res.json()) as { access_token: string; refresh_token?: string };
}

async function renew(): Promise<boolean> {
  const current = stored();
  const s = cachedSession;
  if (!current?.refresh || s?.auth !== 'token' || !s.tokenPath) return false;
  try {
    const answer = await tokenRequest(s, { grant_type: 'refresh_token', refresh_token: current.refresh });
    store({ ...current, authorization: `Bearer ${answer.access_token}` });
    return true;
  } catch {
    return false;
  }
}

function basic(user: string, password: string): string {
  const bytes = new TextEncoder().encode(`${user}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** Signs in with the registry's own users; throws ApiError (401: wrong username or password). */
export async function signIn(user: string, password: string): Promise<Session> {
  const s = await session();
  if (s.auth === 'basic') {
    store({ authorization: basic(user, password), user });
  } else if (s.auth === 'token') {
    if (!s.tokenPath) throw new ApiError(400, 'UNSUPPORTED', 'tokens are issued elsewhere: sign-in from the UI needs the built-in token endpoint');
    const answer = await tokenRequest(s, { grant_type: 'password', username: user, password, access_type: 'offline' });
    store({ authorization: `Bearer ${answer.access_token}`, user, ...(answer.refresh_token ? { refresh: answer.refresh_token } : {}) });
  } else {
    throw new ApiError(400, 'UNSUPPORTED', 'this registry has no users: everything is open');
  }
  cachedSession = undefined;
  try {
    return await session();
  } catch (err) {
    store(undefined);
    throw err;
  }
}

export function signOut(): void {
  store(undefined);
  cachedSession = undefined;
}
