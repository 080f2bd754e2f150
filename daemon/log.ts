/** A small structured logger: one line per entry on stderr, JSON when not on a terminal. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export function isLogLevel(s: string): s is LogLevel {
  return Object.hasOwn(order, s);
}

export function createLogger(level: LogLevel = 'info', base: Record<string, unknown> = {}, out: NodeJS.WritableStream = process.stderr): Logger {
  const json = !(out as NodeJS.WriteStream).isTTY;
  const write = (lvl: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (order[lvl] < order[level]) return;
    const entry = { time: new Date().toISOString(), level: lvl, msg, ...base, ...fields };
    if (json) out.write(`${JSON.stringify(entry)}\n`);
    else {
      const extra = Object.entries({ ...base, ...fields })
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(`${entry.time} ${lvl.toUpperCase().padEnd(5)} ${msg}${extra ? ` ${extra}` : ''}\n`);
    }
  };
  return {
    debug: (m, f) => write('debug', m, f),
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
    child: (fields) => createLogger(level, { ...base, ...fields }, out),
  };
}
