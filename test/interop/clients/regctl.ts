/**
 * regctl (regclient) driver. Plain HTTP is a per-registry setting
 * (`regctl registry set --tls disabled host:port`), kept in
 * $HOME/.regctl/config.json of the private HOME; create() sets it.
 */
import { FetchedClient } from './fetched.js';

export class Regctl extends FetchedClient {
  static async create(dir: string, host: string): Promise<Regctl> {
    const client = new Regctl(...(await FetchedClient.prepare('regctl', dir)));
    await client.run(['registry', 'set', '--tls', 'disabled', host]);
    return client;
  }

  /** stdout of a Go-template query (e.g. `{{.Architecture}}`), trimmed. */
  format(args: readonly string[], template: string): Promise<string> {
    return this.out([...args, '--format', template]);
  }
}
