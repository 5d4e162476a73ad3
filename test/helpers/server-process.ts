/** Moved to support/server-process.ts; kept for the interop suite's imports until it moves too. */
export * from '../../support/server-process.js';
