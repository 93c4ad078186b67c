// test/core/store/memory.test.ts — the in-memory store against the shared Store contract.
import { MemoryStore } from '../../../core/store/memory.js';
import { storeSuite } from './store-suite.js';

storeSuite('memory', { fresh: async () => new MemoryStore() });
