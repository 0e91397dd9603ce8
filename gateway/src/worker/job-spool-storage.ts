// JobSpoolStorage: a multer StorageEngine that streams a job's file part to a private spool file under
// JOB_DATA_DIR/incoming (backpressure from the disk to the client: the file is never held in memory).
// The primary's job engine takes the file from there; a rejected form's file is removed here.
import { randomBytes } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Request } from 'express';
import type multer from 'multer';
import { FileTooLarge } from '../api/errors.js';

type HandleCallback = (error?: unknown, info?: Partial<Express.Multer.File>) => void;

export class JobSpoolStorage implements multer.StorageEngine {
  constructor(
    private readonly dir: string,
    private readonly maxUploadBytes: number,
  ) {}

  _handleFile(_req: Request, file: Express.Multer.File, cb: HandleCallback): void {
    const spooled = path.join(this.dir, `${randomBytes(12).toString('hex')}.part`);
    let size = 0;
    let tooLarge = false;
    // multer ends the stream normally at the size limit: the file is then refused, not kept truncated.
    file.stream.on('limit', () => (tooLarge = true));
    file.stream.on('data', (chunk: Buffer) => (size += chunk.length));
    pipeline(file.stream, createWriteStream(spooled, { flags: 'wx', mode: 0o600 })).then(
      () => {
        if (tooLarge) {
          rmSync(spooled, { force: true });
          cb(new FileTooLarge(this.maxUploadBytes));
        } else cb(null, { path: spooled, size });
      },
      (err: unknown) => {
        rmSync(spooled, { force: true });
        cb(err);
      },
    );
  }

  _removeFile(_req: Request, file: Express.Multer.File, cb: (error: Error | null) => void): void {
    rmSync(file.path, { force: true });
    cb(null);
  }
}
