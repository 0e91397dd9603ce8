// The upload's own deadline: a client that stalls or trickles its upload is cut off with 408 long
// before TIMEOUT, so slow senders hold neither a worker's connection nor a sidecar for minutes.
import type { Request } from 'express';
import { UploadTimeout } from '../api/errors.js';

export interface UploadRate {
  windowMs: number;
  /** 0 turns the check off. */
  minBytesPerS: number;
}

/**
 * Calls `tooSlow` when fewer than `minBytesPerS × window` bytes arrived on the request's connection
 * during a window. A window during which the gateway itself held the upload back (backpressure from
 * the sidecar) does not count against the client. Returns the function that stops watching.
 */
export function watchUpload(req: Request, rate: UploadRate, tooSlow: (receivedBytes: number) => void): () => void {
  if (rate.minBytesPerS === 0) return () => undefined;
  const socket = req.socket;
  const minBytes = (rate.minBytesPerS * rate.windowMs) / 1000;
  let last = socket.bytesRead;
  let heldBack = req.isPaused();
  const onPause = (): void => {
    heldBack = true;
  };
  req.on('pause', onPause);
  const timer = setInterval(() => {
    const now = socket.bytesRead;
    const received = now - last;
    last = now;
    const ours = heldBack || req.isPaused();
    heldBack = req.isPaused();
    if (!ours && received < minBytes) tooSlow(received);
  }, rate.windowMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    req.off('pause', onPause);
  };
}

/** The 408 of an upload that brought `received` bytes in its last window (POST /ocr and POST /jobs). */
export function slowUpload(rate: UploadRate, received: number): UploadTimeout {
  return new UploadTimeout(
    `The upload is too slow: ${received} bytes arrived in the last ${rate.windowMs / 1000} s, below the ` +
      `minimum of ${rate.minBytesPerS} bytes/s (UPLOAD_MIN_RATE); check the connection and send the file again.`,
    { received_bytes: received, window_s: rate.windowMs / 1000, min_bytes_per_s: rate.minBytesPerS },
  );
}
