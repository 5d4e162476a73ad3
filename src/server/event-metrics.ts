/**
 * Event delivery series (services/events/delivery.ts), on `register`, per subscription:
 *   events_pending{subscription}                  gauge, events it has still to receive (at scrape; at most 10000 scanned)
 *   events_oldest_pending_age_seconds{subscription} gauge, age of the oldest of them; 0 when none
 *   events_delivered_total{subscription}          counter, deliveries answered 2xx by this process
 *   events_failed_total{subscription}             counter, failed attempts of this process
 *   events_dead_total{subscription}               counter, events this process parked as dead for it
 */
import prom from 'prom-client';
import type { EventDelivery } from '../services/events/delivery.js';

export function eventMetrics(register: prom.Registry, delivery: EventDelivery, prefix = 'ferro_oci_'): void {
  const labelNames = ['subscription'] as const;
  let scan: Promise<Awaited<ReturnType<EventDelivery['pending']>>> | undefined;
  // One store scan serves both gauges of a scrape.
  const pending = () => (scan ??= delivery.pending(AbortSignal.timeout(5000)).finally(() => setTimeout(() => (scan = undefined), 0)));
  new prom.Gauge({
    name: `${prefix}events_pending`, help: 'Events a subscription has still to receive.', labelNames, registers: [register],
    async collect() {
      for (const [subscription, p] of await pending().catch(() => new Map())) this.set({ subscription }, p.pending);
    },
  });
  new prom.Gauge({
    name: `${prefix}events_oldest_pending_age_seconds`, help: 'Age of the oldest event a subscription has still to receive.', labelNames, registers: [register],
    async collect() {
      for (const [subscription, p] of await pending().catch(() => new Map())) this.set({ subscription }, p.oldestAgeMs / 1000);
    },
  });
  for (const [key, help] of [['delivered', 'Event deliveries answered 2xx.'], ['failed', 'Failed event delivery attempts.'], ['dead', 'Events parked as dead.']] as const) {
    new prom.Counter({
      name: `${prefix}events_${key}_total`, help, labelNames, registers: [register],
      collect() {
        this.reset();
        for (const [subscription, c] of delivery.counts) this.inc({ subscription }, c[key]);
      },
    });
  }
}
