// Picks the job engine: embedded without REDIS_URL; BullMQ on Redis with it (loaded only then).
import type { JobContext } from './job-context.js';
import { EmbeddedJobEngine } from './embedded-engine.js';
import type { JobEngine } from './job-engine.js';

/** `services`: those enabled on this box, whose queues it consumes. */
export async function createJobEngine(ctx: JobContext, services: readonly string[]): Promise<JobEngine> {
  if (ctx.settings.redisUrl === '') return new EmbeddedJobEngine(ctx);
  const { RedisJobEngine } = await import('./redis-engine.js');
  return RedisJobEngine.start(ctx, services);
}
