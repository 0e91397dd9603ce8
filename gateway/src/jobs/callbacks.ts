// Job callbacks: when a job ends, its status is POSTed to the callback_url given at submission,
// signed with HMAC-SHA256 of the body (JOB_CALLBACK_SECRET) in `x-mdso-signature: sha256=<hex>`, and
// retried with exponential backoff until a 2xx. No SSRF: a callback may reach public addresses only,
// unless JOB_CALLBACK_ALLOWED_HOSTS names the host, its address or a CIDR holding it; the check is
// made when the job is submitted and again on every connection (the address actually connected to,
// so a DNS answer that changes in between cannot reach the private network).
import { createHmac } from 'node:crypto';
import { lookup as dnsLookup } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { BadCallbackUrl } from '../api/errors.js';
import type { Logger } from '../logger.js';

export const SIGNATURE_HEADER = 'x-mdso-signature';
const MAX_URL_LENGTH = 2048;
const ATTEMPTS = 8;
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 5 * 60_000;
const REQUEST_TIMEOUT_MS = 10_000;

/** Addresses a callback never reaches unless allowed: loopback, private, link-local, shared, multicast, reserved. */
function privateRanges(): BlockList {
  const list = new BlockList();
  for (const [net, bits] of [
    ['0.0.0.0', 8],
    ['10.0.0.0', 8],
    ['100.64.0.0', 10],
    ['127.0.0.0', 8],
    ['169.254.0.0', 16],
    ['172.16.0.0', 12],
    ['192.0.0.0', 24],
    ['192.168.0.0', 16],
    ['198.18.0.0', 15],
    ['224.0.0.0', 3],
  ] as const) {
    list.addSubnet(net, bits, 'ipv4');
    // The same addresses written as IPv4-mapped IPv6 (::ffff:127.0.0.1, which URL writes ::ffff:7f00:1).
    list.addSubnet(`::ffff:${net}`, 96 + bits, 'ipv6');
  }
  for (const [net, bits] of [
    ['::', 127],
    ['64:ff9b::', 96],
    ['fc00::', 7],
    ['fe80::', 10],
    ['ff00::', 8],
  ] as const) list.addSubnet(net, bits, 'ipv6');
  return list;
}

export class CallbackSender {
  private readonly blocked = privateRanges();
  private readonly allowedNames = new Set<string>();
  private readonly allowedAddresses = new BlockList();
  private readonly agent: Agent;
  private closed = false;

  constructor(
    private readonly secret: string,
    allowedHosts: readonly string[],
    private readonly logger: Logger,
  ) {
    for (const entry of allowedHosts) {
      const [address = '', bits] = entry.split('/');
      const family = isIP(address);
      if (family === 0) this.allowedNames.add(entry);
      else if (bits === undefined) this.allowedAddresses.addAddress(address, family === 6 ? 'ipv6' : 'ipv4');
      else this.allowedAddresses.addSubnet(address, Number(bits), family === 6 ? 'ipv6' : 'ipv4');
    }
    this.agent = new Agent({ connect: { lookup: this.guardedLookup() }, headersTimeout: REQUEST_TIMEOUT_MS, bodyTimeout: REQUEST_TIMEOUT_MS });
  }

  /** The callback URL as it will be called, or BadCallbackUrl saying why not (checked at submission). */
  async check(raw: string): Promise<string> {
    if (this.secret === '') throw new BadCallbackUrl('callback_url needs JOB_CALLBACK_SECRET to be set on the gateway (callbacks are signed).');
    if (raw.length > MAX_URL_LENGTH) throw new BadCallbackUrl(`callback_url is longer than ${MAX_URL_LENGTH} characters.`);
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new BadCallbackUrl('callback_url is not a URL.', { callback_url: raw.slice(0, 200) });
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new BadCallbackUrl('callback_url must be an http:// or https:// URL.');
    if (url.username !== '' || url.password !== '') throw new BadCallbackUrl('callback_url must not carry credentials.');
    const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const addresses = await this.resolve(host).catch(() => {
      throw new BadCallbackUrl(`callback_url's host '${host.slice(0, 100)}' could not be resolved.`, { host: host.slice(0, 100) });
    });
    for (const address of addresses) {
      if (!this.allowed(host, address)) {
        throw new BadCallbackUrl(
          `callback_url's host '${host.slice(0, 100)}' is a private, loopback or reserved address: allow it in JOB_CALLBACK_ALLOWED_HOSTS to call it.`,
          { host: host.slice(0, 100) },
        );
      }
    }
    return url.toString();
  }

  /** POSTs `payload` (JSON), signed, until a 2xx or the attempts run out; never throws. */
  async deliver(url: string, payload: unknown, jobId: string): Promise<boolean> {
    const host = new URL(url).hostname.replace(/^\[|\]$/g, '').toLowerCase();
    // An address in the URL is never looked up: checked here (this box's configuration may differ from the submitter's).
    if (isIP(host) !== 0 && !this.allowed(host, host)) {
      this.logger.warn('job callback refused: its address is not allowed here', { job_id: jobId });
      return false;
    }
    const body = JSON.stringify(payload);
    const signature = `sha256=${createHmac('sha256', this.secret).update(body).digest('hex')}`;
    let wait = FIRST_RETRY_MS;
    for (let attempt = 1; attempt <= ATTEMPTS && !this.closed; attempt += 1) {
      try {
        const res = await request(url, {
          method: 'POST',
          dispatcher: this.agent,
          headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: signature, 'x-mdso-job-id': jobId, 'user-agent': 'mdso-ocr-callback' },
          body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        await res.body.dump();
        if (res.statusCode >= 200 && res.statusCode < 300) return true;
        this.logger.warn('job callback refused', { job_id: jobId, status: res.statusCode, attempt });
      } catch (err) {
        this.logger.warn('job callback failed', { job_id: jobId, attempt, error: err instanceof Error ? err.message : String(err) });
      }
      if (attempt < ATTEMPTS) await sleep(wait, undefined, { ref: false });
      wait = Math.min(wait * 2, MAX_RETRY_MS);
    }
    return false;
  }

  close(): void {
    this.closed = true;
    void this.agent.close();
  }

  private allowed(host: string, address: string): boolean {
    if (this.allowedNames.has(host)) return true;
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (this.allowedAddresses.check(address, family)) return true;
    return !this.blocked.check(address, family);
  }

  private async resolve(host: string): Promise<string[]> {
    if (isIP(host) !== 0) return [host];
    return new Promise((resolve, reject) =>
      dnsLookup(host, { all: true }, (err, found) => (err ? reject(err) : resolve(found.map((a) => a.address)))),
    );
  }

  /** net.connect's lookup: refuses an address the URL's host may not reach, at connection time. */
  private guardedLookup(): LookupFunction {
    return (hostname, options, callback) => {
      dnsLookup(hostname, { ...options, all: true }, (err, found) => {
        if (err) return callback(err, '', 4);
        const host = hostname.toLowerCase();
        const ok = found.filter((a) => this.allowed(host, a.address));
        if (ok.length === 0) {
          const refused = Object.assign(new Error(`callback host ${host} resolves to a private address`), { code: 'ECALLBACKREFUSED' });
          return callback(refused, '', 4);
        }
        if ((options as { all?: boolean }).all === true) return (callback as unknown as (e: null, a: typeof ok) => void)(null, ok);
        const first = ok[0]!;
        callback(null, first.address, first.family);
      });
    };
  }
}
