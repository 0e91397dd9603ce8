// A real Redis for the tests: Debian's redis-server on a free port, without persistence, stopped at
// the end (scripts/bootstrap --dev installs it).
import { type ChildProcess, spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from './gateway.js';

export interface RedisServer {
  url: string;
  client: Redis;
  stop: () => Promise<void>;
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort();
  const proc: ChildProcess = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  proc.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const url = `redis://127.0.0.1:${port}/0`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      if (proc.exitCode !== null || Date.now() > end) throw new Error(`redis-server did not start\n${output}`);
      client.disconnect();
      await sleep(100);
    }
  }
  return {
    url,
    client,
    stop: async () => {
      client.disconnect();
      proc.kill('SIGTERM');
      await exited;
    },
  };
}
