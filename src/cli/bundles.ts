/** `mcp-policy bundles serve <dir>`: the bundle service in front of a folder of compiled bundles. */
import { type Command } from 'commander';
import { parseAddr, startBundleService } from '../fleet/bundle-service.js';
import { type CliIo } from './io.js';

/** Registers `bundles serve`; it runs until SIGINT or SIGTERM, then closes gracefully. */
export function registerBundles(program: Command, io: CliIo): void {
  program
    .command('bundles')
    .description('distribute compiled bundles to OPA servers and mcp-policy hosts')
    .command('serve')
    .description('serve every bundle under <dir> at GET /bundles/<name>.tar.gz (ETag = revision, 304), /health')
    .argument('<dir>', 'folder of compile outputs (<name>/bundle.tar.gz) or <name>.tar.gz files')
    .option('--addr <host:port>', 'address to listen on', '127.0.0.1:8282')
    .action(async (dir: string, opts: { addr: string }) => {
      const service = await startBundleService({ dir, ...parseAddr(opts.addr) });
      io.stdout(`serving bundles from ${dir} at ${service.url}/bundles/<name>.tar.gz\n`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void service.close().then(done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
