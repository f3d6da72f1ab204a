/** `mcp-policy playground [<policy>] [--addr 127.0.0.1:PORT]`: the policy playground on loopback; it prints the URL. */
import { type Command } from 'commander';
import { readTextFile } from '../policy/file.js';
import { startPlayground } from '../playground/server.js';
import { parseAddress } from '../server/listen.js';
import { type CliIo } from './io.js';

/** The default address: a fixed port, so the page can be bookmarked. */
export const PLAYGROUND_ADDR = '127.0.0.1:8182';

/** Registers `playground`; it runs until SIGINT or SIGTERM, then closes gracefully. */
export function registerPlayground(program: Command, io: CliIo): void {
  program
    .command('playground')
    .description('serve the policy playground on loopback: edit, check, lint, try, diff and ship a policy')
    .argument('[policy]', 'policy or Docker admin-settings.json to start from (also the baseline of the diff view)')
    .option('--addr <host:port>', 'loopback address to listen on (port 0: any free port)', PLAYGROUND_ADDR)
    .action(async (file: string | undefined, opts: { addr: string }) => {
      const { host, port } = parseAddress(opts.addr);
      // An invalid policy is still opened: the playground is where it gets fixed.
      const initial = file === undefined ? undefined : { name: file, text: await readTextFile(file) };
      const server = await startPlayground({ host, port, ...(initial && { initial }) });
      io.stdout(`playground: ${server.url.href}\n`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void server.close().then(done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
