// Job callbacks' guard (jobs/callbacks.ts): which URLs a callback may be sent to. Public addresses
// only, unless JOB_CALLBACK_ALLOWED_HOSTS names the host, its address or a CIDR holding it; every
// spelling of a private address (decimal, short, IPv4-mapped IPv6) is the address it spells.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { describe, it } from 'node:test';
import { BadCallbackUrl } from '../../gateway/src/api/errors.js';
import { CallbackSender } from '../../gateway/src/jobs/callbacks.js';
import { createLogger } from '../../gateway/src/logger.js';

const logger = createLogger({ level: 'error', json: true, component: 'test' });
const SECRET = 'callback-secret-0123456789abcdef';

async function refused(sender: CallbackSender, url: string): Promise<boolean> {
  try {
    await sender.check(url);
    return false;
  } catch (err) {
    assert.ok(err instanceof BadCallbackUrl, `${url}: ${String(err)}`);
    return true;
  }
}

describe('callback URLs', () => {
  it('refuses private, loopback, link-local, reserved and mapped addresses by default, in any spelling', async () => {
    const sender = new CallbackSender(SECRET, [], logger);
    try {
      for (const url of [
        'http://127.0.0.1/',
        'http://127.1/',
        'http://2130706433/',
        'http://0x7f000001/',
        'http://0.0.0.0/',
        'http://10.0.0.5/',
        'http://172.16.3.4/',
        'http://192.168.1.1/',
        'http://169.254.169.254/latest/meta-data',
        'http://100.64.0.1/',
        'http://[::1]/',
        'http://[::ffff:127.0.0.1]/',
        'http://[fd00::1]/',
        'http://[fe80::1]/',
        'http://localhost:8080/',
      ]) {
        assert.ok(await refused(sender, url), `${url} must be refused`);
      }
      for (const url of ['ftp://93.184.216.34/', 'http://u:p@93.184.216.34/', 'x', `http://93.184.216.34/${'a'.repeat(2100)}`]) {
        assert.ok(await refused(sender, url), url);
      }
      assert.equal(await sender.check('https://93.184.216.34/hook?x=1'), 'https://93.184.216.34/hook?x=1');
    } finally {
      sender.close();
    }
  });

  it('allows what JOB_CALLBACK_ALLOWED_HOSTS names: a host name, an address, a CIDR', async () => {
    const sender = new CallbackSender(SECRET, ['localhost', '10.1.2.3', '192.168.0.0/16'], logger);
    try {
      assert.equal(await refused(sender, 'http://localhost:8080/hook'), false);
      assert.equal(await refused(sender, 'http://10.1.2.3/hook'), false);
      assert.equal(await refused(sender, 'http://192.168.40.2/hook'), false);
      assert.equal(await refused(sender, 'http://10.1.2.4/hook'), true);
      assert.equal(await refused(sender, 'http://127.0.0.1/hook'), true, 'the name is allowed, not every loopback address');
    } finally {
      sender.close();
    }
  });

  it('refuses every callback without a secret: callbacks are always signed', async () => {
    const sender = new CallbackSender('', ['127.0.0.1'], logger);
    try {
      assert.ok(await refused(sender, 'http://127.0.0.1/hook'));
    } finally {
      sender.close();
    }
  });

  it('delivers to an allowed host name through the connection-time guard, signed', async () => {
    const bodies: { signature: string | undefined; body: string }[] = [];
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push({ signature: req.headers['x-mdso-signature'] as string | undefined, body });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, 'localhost', () => resolve()));
    const address = server.address();
    assert.ok(typeof address === 'object' && address !== null);
    const sender = new CallbackSender(SECRET, ['localhost'], logger);
    try {
      const url = await sender.check(`http://localhost:${address.port}/hook`);
      assert.equal(await sender.deliver(url, { job_id: 'x', status: 'done' }, 'x'), true);
      assert.deepEqual(bodies.map((b) => b.body), ['{"job_id":"x","status":"done"}']);
      assert.match(bodies[0]?.signature ?? '', /^sha256=[0-9a-f]{64}$/);
    } finally {
      sender.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
