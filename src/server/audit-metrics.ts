/**
 * Audit log series (services/audit/recorder.ts), on `register`, per sink (stdout, file, database):
 *   audit_records_total{sink}    counter, records written
 *   audit_dropped_total{sink}    counter, records dropped because the sink's queue was full
 *   audit_failed_total{sink}     counter, records whose write failed
 */
import prom from 'prom-client';
import type { AuditRecorder } from '../services/audit/recorder.js';

export function auditMetrics(register: prom.Registry, recorder: AuditRecorder, prefix = 'ferro_oci_'): void {
  const series = [['records', 'written', 'Audit records written.'], ['dropped', 'dropped', 'Audit records dropped: the sink\'s queue was full.'], ['failed', 'failed', 'Audit records whose write failed.']] as const;
  for (const [name, key, help] of series) {
    new prom.Counter({
      name: `${prefix}audit_${name}_total`, help, labelNames: ['sink'], registers: [register],
      collect() {
        this.reset();
        for (const [sink, counts] of recorder.counts()) this.inc({ sink }, counts[key]);
      },
    });
  }
}
