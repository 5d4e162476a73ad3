/** Copyable pull commands, and deletes confirmed in a dialog that says what will happen. */
import { api, ApiError } from './api.js';
import { announce, bytes, h, href, type Child } from './dom.js';
import { render } from './main.js';

/** The registry host for pull commands: the configured public host, else the one this page came from. */
export function registryHost(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="ferro-public-host"]');
  return meta?.content || location.host;
}

/** Pull commands of common clients for `name` at `reference` (a tag, or a digest). */
export function pullCommands(name: string, reference: string): Array<[string, string]> {
  const host = registryHost();
  const byDigest = reference.includes(':');
  const image = `${host}/${name}${byDigest ? '@' : ':'}${reference}`;
  const file = `${name.split('/').pop() ?? 'image'}.tar`;
  return [
    ['docker', `docker pull ${image}`],
    ['podman', `podman pull ${image}`],
    ['nerdctl', `nerdctl pull ${image}`],
    ['crane', `crane pull ${image} ${file}`],
    ['helm', byDigest ? `helm pull oci://${host}/${name}@${reference}` : `helm pull oci://${host}/${name} --version ${reference}`],
  ];
}

async function copy(text: string): Promise<void> {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // No clipboard API (an insecure origin): copy through a selected text area.
    const area = h('textarea', { 'aria-hidden': 'true', class: 'offscreen' }, text);
    document.body.appendChild(area);
    area.select();
    document.execCommand('copy');
    area.remove();
  }
}

export function pullSection(name: string, reference: string, heading: string): Child {
  return [
    h('h2', {}, heading),
    h(
      'ul',
      { class: 'commands' },
      pullCommands(name, reference).map(([client, command]) =>
        h(
          'li',
          {},
          h('code', {}, command),
          h('button', { type: 'button', 'aria-label': `Copy the ${client} command`, onclick: () => void copy(command).then(() => announce(`Copied: ${command}`)) }, 'Copy'),
        ),
      ),
    ),
  ];
}

interface DeletePreview {
  kind: 'tag' | 'manifest';
  digest: string;
  tags: string[];
  immutableTag?: string;
  bytesFreed: number;
}

function consequences(name: string, reference: string, p: DeletePreview): Child {
  if (p.immutableTag) return h('p', {}, `Tag ${p.immutableTag} is immutable: the registry refuses this delete.`);
  if (p.kind === 'tag') {
    const others = p.tags.filter((t) => t !== reference);
    return h(
      'p',
      {},
      `Only the tag ${reference} goes. Manifest ${p.digest} stays in ${name}`,
      others.length > 0 ? `, still tagged ${others.join(', ')}.` : ', untagged (a retention or untagged rule may remove it later). No storage is freed now.',
    );
  }
  return [
    h('p', {}, `Manifest ${p.digest} is deleted from ${name}${p.tags.length > 0 ? `, with its tags ${p.tags.join(', ')}` : ''}.`),
    h('p', {}, `Blobs only it references: ${bytes(p.bytesFreed)}, freed by a garbage collection once their grace period has passed.`),
  ];
}

/** A button opening the confirmation dialog for deleting `reference` (a tag or a digest) of `name`. */
export function deleteButton(name: string, reference: string, label: string, after?: () => void): HTMLButtonElement {
  return h('button', { type: 'button', class: 'danger', onclick: () => void confirmDelete(name, reference, after) }, label);
}

async function confirmDelete(name: string, reference: string, after?: () => void): Promise<void> {
  let preview: DeletePreview;
  try {
    preview = await api<DeletePreview>('delete', { name, ref: reference });
  } catch (err) {
    announce(err instanceof Error ? err.message : String(err));
    return;
  }
  const what = preview.kind === 'tag' ? `tag ${reference}` : `manifest ${preview.digest.slice(0, 19)}…`;
  const message = h('p', { role: 'alert', class: 'error', hidden: true });
  const dialog: HTMLDialogElement = h(
    'dialog',
    { 'aria-labelledby': 'delete-title' },
    h('h2', { id: 'delete-title' }, `Delete ${what}?`),
    consequences(name, reference, preview),
    message,
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
      preview.immutableTag
        ? null
        : h(
            'button',
            {
              type: 'button',
              class: 'danger',
              onclick: async () => {
                try {
                  await api('delete', { name, ref: reference }, 'DELETE');
                } catch (err) {
                  message.hidden = false;
                  message.textContent = err instanceof ApiError ? err.message : String(err);
                  return;
                }
                dialog.close();
                if (after) after();
                else await render();
                announce(`Deleted ${what} from ${name}.`);
              },
            },
            `Delete ${preview.kind}`,
          ),
    ),
  );
  dialog.addEventListener('close', () => dialog.remove());
  document.body.appendChild(dialog);
  dialog.showModal();
}

/** Where to go after deleting a manifest shown on its own page. */
export const backToRepository = (name: string) => () => {
  location.hash = href('repository', { name });
};
