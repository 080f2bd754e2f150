import { contentSuite } from '../../test/suites/content.ts';
import { Exchange } from '../events/exchange.ts';
import { ContentStore } from './store.ts';

// Every content store passes the conformance suite: one line each.
contentSuite('on the local filesystem', (root, db) => new ContentStore(root, db, new Exchange(), () => undefined));
