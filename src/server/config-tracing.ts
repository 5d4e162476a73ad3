/**
 * The `tracing` section of the configuration file (README "Tracing"), checked
 * by the schema, and the standard OpenTelemetry variables naming a collector.
 * Tracing is on only when an endpoint is found, in this order: the file's
 * `tracing.endpoint`, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (used as is),
 * OTEL_EXPORTER_OTLP_ENDPOINT (+ `/v1/traces`); OTEL_SDK_DISABLED=true turns
 * it off. Without one, nothing of the OpenTelemetry SDK is loaded.
 *
 *   tracing:
 *     endpoint: http://otel-collector:4318/v1/traces
 *     serviceName: ferro-oci-server   # default
 *     sampleRatio: 1                  # share of new traces recorded (default 1)
 */
import { ConfigError } from './config-schema.js';
import type { ConfigTree } from './config-tree.js';

export interface TracingConfig {
  /** The OTLP/HTTP (JSON) traces URL. */
  readonly endpoint: string;
  readonly serviceName: string;
  readonly sampleRatio: number;
}

const DEFAULTS = { serviceName: 'ferro-oci-server', sampleRatio: 1 } as const;

function httpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
}

/** The endpoint the variables name, or undefined. */
function endpointFromEnv(env: NodeJS.ProcessEnv): { endpoint: string; from: string } | undefined {
  const traces = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  if (traces) return { endpoint: traces, from: 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT' };
  const base = env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (base) return { endpoint: `${base.replace(/\/+$/, '')}/v1/traces`, from: 'OTEL_EXPORTER_OTLP_ENDPOINT' };
  return undefined;
}

/** The tracing settings, or undefined when tracing is off. Throws a ConfigError for a variable that is no http(s) URL. */
export function parseTracing(section: ConfigTree['tracing'], env: NodeJS.ProcessEnv): TracingConfig | undefined {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return undefined;
  const settings = { ...DEFAULTS, ...section };
  if (section?.endpoint !== undefined) return { endpoint: section.endpoint, serviceName: settings.serviceName, sampleRatio: settings.sampleRatio };
  const found = endpointFromEnv(env);
  if (found === undefined) return undefined;
  if (!httpUrl(found.endpoint)) throw new ConfigError(`${found.from}: must be an http or https URL (the OpenTelemetry collector's)`);
  return { endpoint: found.endpoint, serviceName: settings.serviceName, sampleRatio: settings.sampleRatio };
}
