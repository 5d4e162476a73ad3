/** crane (go-containerregistry) driver: plain HTTP with --insecure; a private HOME (its auth file is $DOCKER_CONFIG/config.json). */
import type { CommandResult, RunOptions } from '../harness.js';
import { FetchedClient } from './fetched.js';

export class Crane extends FetchedClient {
  static async create(dir: string): Promise<Crane> {
    return new Crane(...(await FetchedClient.prepare('crane', dir)));
  }

  override run(args: readonly string[], options: RunOptions = {}): Promise<CommandResult> {
    return super.run([...args, '--insecure'], options);
  }
}
