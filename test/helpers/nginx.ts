// Test harness: runs docker/nginx.conf with the real nginx binary (no Docker, no root needed) in a
// private prefix directory, in front of a test upstream. Only addresses, paths and the values a test
// names are rewritten, each rewrite checked to have matched; the prefix directory is removed at stop.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, freePort } from './gateway.js';

export const NGINX_CONF = path.join(ROOT, 'docker', 'nginx.conf');

/** The nginx binary (NGINX, then PATH, then Debian's /usr/sbin/nginx), or null when there is none. */
export function nginxBinary(): string | null {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter((d) => d !== '');
  const candidates = [process.env.NGINX, ...dirs.map((d) => path.join(d, 'nginx')), '/usr/sbin/nginx'];
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '') continue;
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not this one
    }
  }
  return null;
}

const isComment = (line: string): boolean => line.trimStart().startsWith('#');

/**
 * Replaces `pattern` on the config's active lines (commented ones, such as the TLS example, are
 * left alone); throws when it matched fewer than `atLeast` lines, so that a changed config fails
 * loudly instead of being tested unrewritten. A replacement returning null drops the line.
 */
function rewriteLines(conf: string, what: string, pattern: RegExp, replace: (m: RegExpMatchArray) => string | null, atLeast = 1): string {
  let count = 0;
  const out: string[] = [];
  for (const line of conf.split('\n')) {
    const m = isComment(line) ? null : line.match(pattern);
    if (m === null) {
      out.push(line);
      continue;
    }
    count += 1;
    const replaced = replace(m);
    if (replaced !== null) out.push(replaced);
  }
  if (count < atLeast) throw new Error(`docker/nginx.conf: expected ${what} (${String(pattern)}), found ${count}`);
  return out.join('\n');
}

/** The values of directive `name` on the config's active lines, in order. */
export function directiveValues(conf: string, name: string): string[] {
  const values: string[] = [];
  const pattern = new RegExp(`^\\s*${name}\\s+([^;]+);`);
  for (const line of conf.split('\n')) {
    const m = isComment(line) ? null : line.match(pattern);
    if (m?.[1] !== undefined) values.push(m[1].trim());
  }
  return values;
}

/** An nginx time ("360s", "1m", "500ms", "300") in milliseconds. */
export function nginxTimeMs(value: string): number {
  const m = /^(\d+)(ms|s|m|h)?$/.exec(value.trim());
  if (m === null) throw new Error(`not an nginx time: ${value}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  return Number(m[1]) * unit;
}

export interface SiteOptions {
  /** host:port of the upstream (the test gateway, or a test server). */
  upstream: string;
  port: number;
  /** Also listen on [::1] (only where this machine has IPv6). */
  ipv6: boolean;
  accessLog: string;
  /** Directive → value, for every active occurrence of a directive the config has (timeouts, sizes). */
  overrides?: Record<string, string>;
}

/** docker/nginx.conf as a test runs it: its upstream, listen ports, access log path and `overrides` changed. */
export function rewriteSite(conf: string, options: SiteOptions): string {
  let site = rewriteLines(conf, 'one upstream server host:port', /^(\s*server\s+)[\w.-]+:\d+(\s*;.*)$/, (m) => `${m[1]}${options.upstream}${m[2]}`);
  site = rewriteLines(site, 'an IPv4 listen', /^(\s*listen\s+)(\d+)(\s*;.*)$/, (m) => `${m[1]}127.0.0.1:${options.port}${m[3]}`);
  site = rewriteLines(
    site,
    'an IPv6 listen',
    /^(\s*listen\s+)\[::\]:\d+(\s*;.*)$/,
    (m) => (options.ipv6 ? `${m[1]}[::1]:${options.port}${m[2]}` : null),
    0,
  );
  site = rewriteLines(site, 'an access_log', /^(\s*access_log\s+)[^\s;]+(.*;.*)$/, (m) => `${m[1]}${options.accessLog}${m[2]}`);
  for (const [name, value] of Object.entries(options.overrides ?? {})) {
    site = rewriteLines(site, name, new RegExp(`^(\\s*${name}\\s+)[^;]+(;.*)$`), (m) => `${m[1]}${value}${m[2]}`);
  }
  return site;
}

/** Whether this machine can listen on the IPv6 loopback. */
export async function hasIpv6(): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(0, '::1', () => srv.close(() => resolve(true)));
  });
}

export interface Nginx {
  url: string;
  dir: string;
  /** The access log's lines, parsed (the config's log format is JSON). */
  accessEntries: () => Record<string, unknown>[];
  errorLog: () => string;
  stop: () => Promise<void>;
}

/** Temp path directives of the modules this nginx was built with (each defaults to a system path). */
function tempPathDirectives(bin: string): string[] {
  const built = spawnSync(bin, ['-V'], { encoding: 'utf8' });
  const flags = `${built.stdout}${built.stderr}`;
  const modules = ['fastcgi', 'uwsgi', 'scgi'].filter((m) => !flags.includes(`--without-http_${m}_module`));
  return ['client_body', 'proxy', ...modules];
}

/**
 * Starts nginx (master and workers, daemon off, in a process group of its own) with `site` included
 * inside `http {}`, as conf.d snippets are, and waits until it accepts connections.
 */
export async function startNginx(bin: string, makeSite: (paths: { port: number; ipv6: boolean; accessLog: string }) => string): Promise<Nginx> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mdso-nginx-'));
  // Workers started by a root master run as `nobody` unless told otherwise: they must reach the dir.
  chmodSync(dir, 0o755);
  const port = await freePort();
  const ipv6 = await hasIpv6();
  const accessLog = path.join(dir, 'access.log');
  const errorLog = path.join(dir, 'error.log');
  try {
    writeFileSync(path.join(dir, 'site.conf'), makeSite({ port, ipv6, accessLog }));
    const temp = tempPathDirectives(bin).map((m) => `    ${m}_temp_path ${path.join(dir, `${m}_temp`)};`);
    writeFileSync(
      path.join(dir, 'nginx.conf'),
      [
        // notice: its start-up lines, and "a client request body is buffered to a temporary file" (warn).
        `error_log ${errorLog} notice;`,
        'worker_processes 1;',
        'events { worker_connections 256; }',
        'http {',
        ...temp,
        `    include ${path.join(dir, 'site.conf')};`,
        '}',
        '',
      ].join('\n'),
    );
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  const proc: ChildProcess = spawn(bin, ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', errorLog, '-g', `daemon off; pid ${path.join(dir, 'nginx.pid')};`], {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const readLog = (file: string): string => {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      return '';
    }
  };
  const pgid = proc.pid;
  const groupAlive = (): boolean => {
    if (pgid === undefined) return false;
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const signalGroup = (signal: NodeJS.Signals): void => {
    if (pgid === undefined) return;
    try {
      process.kill(-pgid, signal);
    } catch {
      // already gone
    }
  };
  const nginx: Nginx = {
    url: `http://127.0.0.1:${port}`,
    dir,
    accessEntries: () =>
      readLog(accessLog)
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    errorLog: () => readLog(errorLog),
    stop: async () => {
      // SIGTERM to the master (fast shutdown: it stops its workers), then make sure the whole group
      // (the master and its workers, all started here) is gone before the directory goes.
      signalGroup('SIGTERM');
      await Promise.race([exited, sleep(10_000, undefined, { ref: false })]);
      for (let i = 0; i < 100 && groupAlive(); i += 1) await sleep(50);
      if (groupAlive()) signalGroup('SIGKILL');
      for (let i = 0; i < 100 && groupAlive(); i += 1) await sleep(50);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      const why = `${output}${readLog(errorLog)}`;
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`nginx exited at start:\n${why.slice(-3000)}`);
    }
    if (await accepts(port)) return nginx;
    if (Date.now() > deadline) {
      const why = `${output}${readLog(errorLog)}`;
      await nginx.stop();
      throw new Error(`nginx did not listen within 30 s:\n${why.slice(-3000)}`);
    }
    await sleep(50);
  }
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
