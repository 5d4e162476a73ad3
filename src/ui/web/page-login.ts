/** Sign-in with the registry's own users (basic: Basic credentials; token: the token endpoint). */
import { ApiError, session, signIn } from './api.js';
import { h } from './dom.js';
import type { Page } from './main.js';

export async function loginPage(params: URLSearchParams): Promise<Page> {
  const s = await session();
  if (s.auth === 'none') return { title: 'Sign in', content: h('p', {}, 'This registry has no users: everything is open to everyone.') };
  const next = params.get('next') || '#/repositories';
  const message = h('p', { role: 'alert', class: 'error', hidden: true });
  const form = h(
    'form',
    {
      class: 'login',
      onsubmit: async (event: Event) => {
        event.preventDefault();
        const data = new FormData(event.target as HTMLFormElement);
        try {
          await signIn(String(data.get('username') ?? ''), String(data.get('password') ?? ''));
        } catch (err) {
          message.hidden = false;
          message.textContent = err instanceof ApiError && err.status === 401 ? 'Wrong username or password.' : err instanceof Error ? err.message : String(err);
          return;
        }
        location.hash = next.startsWith('#/login') ? '#/repositories' : next;
      },
    },
    h('label', { for: 'username' }, 'Username'),
    h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true }),
    h('label', { for: 'password' }, 'Password'),
    h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    h('button', { type: 'submit' }, 'Sign in'),
    message,
  );
  return {
    title: 'Sign in',
    content: [h('p', {}, s.user ? `Signed in as ${s.user}. Sign in again to switch accounts.` : `Sign in with your registry account (${s.auth === 'token' ? 'a token is requested from the registry' : 'the same credentials docker login uses'}).`), form],
  };
}
