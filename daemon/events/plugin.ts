import { grpcServicePlugin, type Plugin, PluginType } from '../plugin.ts';
import { Exchange } from './exchange.ts';
import { defaultJournalBytes } from './journal.ts';
import { eventsService } from './service.ts';

/** the smallest journal bound accepted: four segments of 16 KiB */
const minJournalBytes = 64 * 1024;

/**
 * The event bus, with its journal under <root>/events (settings: journal_max_bytes, the bound on
 * the journal's files, default 16 MiB: some 50,000 task events; see docs/events.md).
 */
export const exchangePlugin: Plugin<Exchange> = {
  type: PluginType.event,
  id: 'exchange',
  async init(ctx) {
    const maxBytes = ctx.settings.journal_max_bytes ?? defaultJournalBytes;
    if (!Number.isSafeInteger(maxBytes) || (maxBytes as number) < minJournalBytes)
      throw new Error(`journal_max_bytes must be a whole number of bytes, at least ${minJournalBytes}`);
    const dir = await ctx.rootDir('events');
    return Exchange.withJournal(dir, { maxBytes: maxBytes as number, warn: (message, fields) => ctx.log.warn(message, fields) });
  },
};

export const eventsServicePlugin = grpcServicePlugin('events', PluginType.event, eventsService);
