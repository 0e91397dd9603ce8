// Logging: winston, JSON lines in production, readable lines otherwise. Never pass document text,
// file contents or API keys to it.
import winston from 'winston';
import type { LogLevel } from './config.js';

export type Logger = winston.Logger;

export function createLogger(options: { level: LogLevel; json: boolean; component: string }): Logger {
  const format = options.json
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
        winston.format.printf((info) => {
          const { timestamp, level, message, component, ...rest } = info;
          const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
          return `${String(timestamp)} ${level.padEnd(5)} [${String(component)}] ${String(message)}${extra}`;
        }),
      );
  return winston.createLogger({
    level: options.level,
    format,
    defaultMeta: { component: options.component, pid: process.pid },
    transports: [new winston.transports.Console({ stderrLevels: [] })],
  });
}
