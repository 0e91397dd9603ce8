// A fuzz of the HTTP API driven by its own OpenAPI description: for every documented operation,
// seeded random path values, query options (documented and not, valid and absurd), headers and
// bodies (valid, mutated, random). Every answer must be a 2xx/4xx (or 503 with Retry-After), JSON
// where the API answers JSON — never a 5xx, never a dropped connection — and the sidecar survives.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_KEY, type Gateway, fixture, getJson, startGateway } from '../helpers/gateway.js';

const CASES = 160;

/** mulberry32: a small seeded PRNG, so a failure can be replayed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Operation {
  path: string;
  method: string;
  params: { name: string; in: string; schema?: { enum?: string[]; examples?: unknown[]; example?: unknown } }[];
  multipart: boolean;
}

describe('HTTP API fuzz from /openapi.json', () => {
  let gw: Gateway;
  let operations: Operation[];
  before(async () => {
    gw = await startGateway({ WORKERS: '2', MAX_UPLOAD_MB: '1' });
    const doc = (await (await fetch(`${gw.url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, { parameters?: Operation['params']; requestBody?: { content?: Record<string, unknown> } }>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.entries(methods).map(([method, op]) => ({
        path,
        method: method.toUpperCase(),
        params: op.parameters ?? [],
        multipart: op.requestBody?.content?.['multipart/form-data'] !== undefined,
      })),
    );
    assert.ok(operations.some((o) => o.multipart), 'the document describes the upload');
  });
  after(async () => {
    assert.equal(await gw.stop(), 0);
  });

  it(`answers ${CASES} generated requests without a 5xx`, async () => {
    const seed = Number(process.env.API_FUZZ_SEED ?? 20261128);
    const random = rng(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
    const png = fixture('client', 'Devis_test.png');
    const pdf = fixture('client', 'Devis_test.pdf');
    const values = (p: Operation['params'][number]): string =>
      pick([
        ...(p.schema?.enum ?? []),
        ...(p.schema?.examples ?? []).filter((e): e is string => typeof e === 'string'),
        ...(typeof p.schema?.example === "string" ? [p.schema.example] : []),
        '',
        'true',
        '0',
        '-1',
        '1-3,7',
        '99999999999999999999',
        'é'.repeat(50),
        '../../etc/passwd',
        'x'.repeat(300),
        '%00',
        'fra+eng',
      ]);
    const validValue = (p: Operation['params'][number]): string => {
      const documented = [...(p.schema?.enum ?? []), ...(p.schema?.examples ?? []).filter((e): e is string => typeof e === 'string')];
      return documented.length > 0 ? pick(documented) : values(p);
    };
    const bodies = [
      () => png,
      () => pdf,
      () => png.subarray(0, Math.floor(random() * png.length)),
      () => Buffer.from(Array.from({ length: 1 + Math.floor(random() * 4000) }, () => Math.floor(random() * 256))),
      () => {
        const b = Buffer.from(pdf);
        for (let i = 0; i < 20; i += 1) b[Math.floor(random() * b.length)] = Math.floor(random() * 256);
        return b;
      },
      () => Buffer.alloc(0),
    ];
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < CASES; i += 1) {
      // The upload is where the risk is: most cases go there.
      const op = random() < 0.7 ? pick(operations.filter((o) => o.multipart)) : pick(operations);
      let path = op.path;
      const query = new URLSearchParams();
      for (const p of op.params) {
        // Mostly the enabled service, sometimes another documented one or junk.
        if (p.in === 'path') path = path.replace(`{${p.name}}`, encodeURIComponent(random() < 0.75 ? 'tesseract' : values(p) || 'nope'));
        // Each option now and then, usually valid (its documented values), so that most requests
        // reach the intake and a share are refused at the option check.
        else if (p.in === 'query' && random() < 0.3) query.append(p.name, random() < 0.6 ? validValue(p) : values(p));
      }
      if (random() < 0.15) query.append(pick(['colour', 'PAGES', 'lang[]', 'a'.repeat(40)]), 'x');
      const headers: Record<string, string> = random() < 0.9 ? { 'x-api-key': API_KEY } : { 'x-api-key': pick(['', 'wrong', API_KEY.slice(1)]) };
      let body: FormData | Uint8Array | undefined;
      if (op.multipart) {
        if (random() < 0.8) {
          body = new FormData();
          body.append(random() < 0.9 ? 'file' : 'upload', new Blob([new Uint8Array(pick(bodies)())]), pick(['a.pdf', 'x.png', '../x', 'é.tif', ' ']));
          if (random() < 0.2) body.append('note', 'y'.repeat(Math.floor(random() * 100_000)));
        } else {
          body = new Uint8Array(pick(bodies)());
          headers['content-type'] = pick(['multipart/form-data', 'multipart/form-data; boundary=zz', 'application/pdf', 'text/plain']);
        }
      }
      const label = `#${i} ${op.method} ${path}?${query.toString().slice(0, 80)}`;
      try {
        const res = await fetch(`${gw.url}${path}${query.size > 0 ? `?${query.toString()}` : ''}`, { method: op.method, headers, body });
        const text = await res.text();
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        if (res.status >= 500 && !(res.status === 503 && res.headers.get('retry-after') !== null)) failures.push(`${label} → ${res.status} ${text.slice(0, 200)}`);
        const type = res.headers.get('content-type') ?? '';
        if (type.includes('application/json')) JSON.parse(text);
        else if (!path.startsWith('/docs') && !path.startsWith('/metrics')) failures.push(`${label} → ${res.status} not JSON (${type})`);
      } catch (err) {
        failures.push(`${label} → no answer: ${String(err)}`);
      }
    }
    const seen = JSON.stringify(Object.fromEntries(statuses));
    assert.deepEqual(failures, [], `seed ${seed}; statuses ${seen}`);
    process.stdout.write(`# api fuzz statuses: ${seen}\n`);
    // The generator reached past auth and routing into the intake, not only the cheap 4xx.
    for (const status of [200, 400, 401, 404]) assert.ok(statuses.has(status), `no ${status} among ${seen}`);
    assert.ok(statuses.has(415) || statuses.has(422), `no intake refusal among ${seen}`);
    const h = await getJson(gw, '/health');
    assert.equal(h.json.status, 'healthy');
    assert.equal((h.json.sidecars as Record<string, { restarts: number }>).tesseract?.restarts, 0);
  });
});
