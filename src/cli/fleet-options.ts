/** The signing and verification options shared by compile, eval and the hosts that load bundles. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { type Command, Option } from 'commander';
import { type VerificationOptions } from '../bundle/signature.js';
import { type SigningOptions } from '../pipeline/build.js';
import { McpPolicyError } from '../core/errors.js';
import { opaConfig, publicKeyPem } from '../fleet/opa-config.js';

/** A key given on the command line: the contents of the file it names, or the text itself (a PEM or secret). */
export function keyArgument(value: string): string {
  return existsSync(value) && statSync(value).isFile() ? readFileSync(value, 'utf8') : value;
}

const ALGS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
];

/** Adds `--signing-key`, `--signing-alg`, `--key-id`, `--opa-config` and `--opa-poll` to compile. */
export function addSigningOptions(command: Command): Command {
  return command
    .option(
      '--signing-key <pem-or-secret>',
      'sign the bundle as opa does (.signatures.json): PEM private key file, PEM or HMAC secret',
    )
    .addOption(new Option('--signing-alg <alg>', 'signature algorithm').choices(ALGS).default('RS256'))
    .option('--key-id <id>', 'key id recorded in the signature (OPA picks its verification key by it)', 'default')
    .option(
      '--opa-config <service-url>',
      'also print the OPA configuration that pulls and verifies this bundle from that bundle service',
    )
    .option('--opa-poll <seconds>', 'polling interval written into the OPA configuration', '10');
}

export interface SigningFlags {
  signingKey?: string;
  signingAlg: string;
  keyId: string;
  opaConfig?: string;
  opaPoll: string;
}

/** The signing options the flags ask for, if any. */
export function signingFrom(opts: SigningFlags): SigningOptions | undefined {
  if (opts.signingKey === undefined) return undefined;
  return { signingKey: keyArgument(opts.signingKey), signingAlg: opts.signingAlg, keyId: opts.keyId };
}

/** The OPA configuration for the bundle written to `outDir`, when `--opa-config` asks for it. */
export function opaConfigFrom(opts: SigningFlags, outDir: string): string | undefined {
  if (opts.opaConfig === undefined) return undefined;
  const seconds = Number(opts.opaPoll);
  if (!Number.isInteger(seconds) || seconds < 1) {
    throw new McpPolicyError('usage', `--opa-poll must be a positive whole number of seconds, not "${opts.opaPoll}"`);
  }
  const key = opts.signingKey === undefined ? undefined : keyArgument(opts.signingKey);
  return opaConfig({
    serviceUrl: opts.opaConfig,
    bundleName: basename(outDir),
    ...(key !== undefined && {
      verificationKey: key.trim().startsWith('-----BEGIN') ? publicKeyPem(key) : key,
      algorithm: opts.signingAlg,
      keyId: opts.keyId,
    }),
    minDelaySeconds: seconds,
    maxDelaySeconds: seconds,
  });
}

/** Adds `--verification-key` and `--key-id` to a command that loads bundles. */
export function addVerificationOptions(command: Command): Command {
  return command
    .option(
      '--verification-key <pem-or-secret>',
      'refuse bundles whose signature does not verify with this key (PEM file, PEM or HMAC secret)',
    )
    .option('--verification-key-id <id>', 'key id the signature must name, when it names one');
}

/** The verification options the flags ask for, if any. */
export function verificationFrom(opts: {
  verificationKey?: string;
  verificationKeyId?: string;
}): VerificationOptions | undefined {
  if (opts.verificationKey === undefined) return undefined;
  return {
    verificationKey: keyArgument(opts.verificationKey),
    ...(opts.verificationKeyId !== undefined && { keyId: opts.verificationKeyId }),
  };
}
