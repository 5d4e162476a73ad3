/**
 * The interop harness: runs one client's scenario against the
 * ferro-oci-server binary, one `it` per step. Its parts:
 *
 * - harness/server.ts: the server modes and the Registry under test
 *   (start, restart, log, plain HTTP reads);
 * - harness/processes.ts: client commands and daemons in process groups
 *   of their own, with time limits; harness/tempdirs.ts: temp dirs;
 * - harness/traffic.ts: mount / upload checks read from the request log;
 * - harness/suite.ts: clientSuite, the step runner;
 * - harness/report.ts: failure explanations, versions and pass counts;
 * - clients/*.ts: one driver per client.
 */
export * from './harness/processes.js';
export * from './harness/report.js';
export * from './harness/server.js';
export * from './harness/suite.js';
export * from './harness/tempdirs.js';
export * from './harness/traffic.js';
