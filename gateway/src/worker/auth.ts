// API-key authentication: the x-api-key header must match one of the configured keys (several are
// accepted so keys can be rotated). Compared in constant time; keys never reach a log or an answer.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import { Unauthorized } from '../errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export function apiKeyAuth(keys: readonly string[]) {
  // Comparing fixed-length digests keeps the comparison constant-time whatever the key lengths.
  const expected = keys.map(digest);
  return (req: Request, _res: Response, next: NextFunction): void => {
    const given = req.get('x-api-key');
    if (given === undefined || given === '') return next(new Unauthorized());
    const candidate = digest(given);
    let ok = false;
    for (const key of expected) ok = timingSafeEqual(candidate, key) || ok;
    next(ok ? undefined : new Unauthorized());
  };
}
