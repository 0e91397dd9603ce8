// API-key authentication: the x-api-key header must match one of the configured keys (several are
// accepted so keys can be rotated). Compared in constant time; keys never reach a log or an answer:
// the access log names the key that matched (API_KEYS' name, key1… for API_KEY's, `generated`).
import { createHash, timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { ApiKey } from '../config.js';
import { Unauthorized } from '../api/errors.js';
import { contextOf } from './request-context.js';

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export function apiKeyAuth(keys: readonly ApiKey[]) {
  // Comparing fixed-length digests keeps the comparison constant-time whatever the key lengths.
  const expected = keys.map((k) => ({ name: k.name, digest: digest(k.key) }));
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.get('x-api-key');
    if (given === undefined || given === '') return next(new Unauthorized());
    const candidate = digest(given);
    // Every key is compared, whichever matches: the time taken says nothing about which one did.
    let matched: string | null = null;
    for (const key of expected) if (timingSafeEqual(candidate, key.digest)) matched ??= key.name;
    if (matched === null) return next(new Unauthorized());
    contextOf(res).access.api_key_name = matched;
    next();
  };
}
