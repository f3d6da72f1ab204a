/**
 * Enterprise rules for URLs, collector endpoints and CA certificates: what
 * ToolHive accepts, checked without network access.
 */
import { X509Certificate } from 'node:crypto';
import { describeThrown } from '../core/errors.js';
import { lowerFirst, type Path, type Report } from '../diagnostics/report.js';

/** URL schemes of registry URLs and collector endpoints. */
export const HTTP_SCHEMES = ['http', 'https'] as const;
/** The URL scheme of a CA certificate's `url`. */
export const HTTPS_ONLY = ['https'] as const;
/** The fields of the `ca_certificate` directive's value: exactly one of them. */
export const CA_CERTIFICATE_FIELDS = ['pem', 'url'] as const;

export function checkCaCertificate(value: unknown, path: Path, label: string, r: Report): void {
  const obj = r.objectWithFields(value, path, label, CA_CERTIFICATE_FIELDS);
  if (!obj) return;
  const hasPem = Object.hasOwn(obj, 'pem');
  const hasUrl = Object.hasOwn(obj, 'url');
  if (hasPem && hasUrl) {
    r.error('conflicting_fields', path, `${label} has both "pem" and "url"; give exactly one`);
  } else if (!hasPem && !hasUrl) {
    r.error('missing_field', path, `${label} needs exactly one of "pem" (an inline PEM certificate) or "url" (https)`);
  }
  if (hasPem) checkPem(obj.pem, [...path, 'pem'], `${label}.pem`, r);
  if (hasUrl) checkUrl(obj.url, [...path, 'url'], `${label}.url`, HTTPS_ONLY, r);
}

/** The start of a PEM private key, which must never be pushed to clients. */
export const PRIVATE_KEY = /-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/;

/** One PEM certificate block. */
export const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function checkPem(pem: unknown, path: Path, label: string, r: Report): void {
  if (typeof pem !== 'string') {
    r.typeError(path, label, 'a string', pem);
    return;
  }
  if (PRIVATE_KEY.test(pem)) {
    r.error(
      'invalid_certificate',
      path,
      `${label} contains a private key; only the certificate belongs here (the configuration is pushed to every client)`,
    );
    return;
  }
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    r.error(
      'invalid_certificate',
      path,
      `${label} holds no PEM certificate ("-----BEGIN CERTIFICATE-----" ... "-----END CERTIFICATE-----")`,
    );
    return;
  }
  blocks.forEach((block, k) => {
    try {
      new X509Certificate(block);
    } catch (e) {
      const which = blocks.length > 1 ? `certificate ${k + 1} of ${label}` : label;
      r.error(
        'invalid_certificate',
        path,
        `${which} is not a valid X.509 certificate: ${lowerFirst(describeThrown(e))}`,
      );
    }
  });
}

export function checkUrl(value: unknown, path: Path, label: string, schemes: readonly string[], r: Report): void {
  if (typeof value !== 'string') {
    r.typeError(path, label, 'a string', value);
    return;
  }
  const problem = urlProblem(value, schemes);
  if (problem) r.error('invalid_url', path, `${label} ${JSON.stringify(value)} ${problem}`);
}

/** Why `text` is not an absolute URL with one of `schemes` and a host; undefined when it is one. */
function urlProblem(text: string, schemes: readonly string[]): string | undefined {
  const expected = schemes.length === 1 ? `an ${schemes[0]} URL` : `an ${schemes.join(' or ')} URL`;
  if (/\s/.test(text) || hasControlCharacter(text)) {
    return `contains whitespace or control characters; expected ${expected}`;
  }
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) return `is not an absolute URL; expected ${expected}`;
  if (!schemes.includes(scheme)) return `uses ${JSON.stringify(scheme)}; expected ${expected}`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `is not a valid URL; expected ${expected}`;
  }
  if (url.hostname === '') return `has no host; expected ${expected}`;
  return undefined;
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** `host:port`, as OTLP over gRPC is configured; the port is checked to be 1 to 65535 apart. */
export const HOST_PORT =
  /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*):(\d{1,5})$/;

/** An OpenTelemetry collector endpoint: an http(s) URL, or host:port (as for OTLP over gRPC). */
export function checkEndpoint(value: unknown, path: Path, label: string, r: Report): void {
  if (typeof value !== 'string') {
    r.typeError(path, label, 'a string', value);
    return;
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(value)) {
    checkUrl(value, path, label, HTTP_SCHEMES, r);
    return;
  }
  const port = HOST_PORT.exec(value)?.[1];
  if (port === undefined || Number(port) < 1 || Number(port) > 65535) {
    r.error('invalid_url', path, `${label} ${JSON.stringify(value)} is neither an http or https URL nor host:port`);
  }
}
