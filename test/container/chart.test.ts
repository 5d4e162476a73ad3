/**
 * The Helm chart (charts/ferro-oci-server) with the official helm 3 and helm 4
 * binaries: lint, the values schema, templates rendered for both storage modes
 * and validated against the Kubernetes API schemas (kubernetes-models: the
 * upstream OpenAPI definitions compiled to ajv validators; ServiceMonitor from
 * the prometheus-operator models), and the packaged chart pushed to and pulled
 * from a running ferro-oci-server.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { removeDir, tempDir } from '../interop/harness.js';
import { Helm } from '../interop/clients/helm.js';
import { missingFetched } from '../interop/clients/fetched.js';
import { startServer } from '../../support/server-process.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHART = join(ROOT, 'charts/ferro-oci-server');
// helm 4 and 3 as the interop suite has them (test/interop/clients/fetch-clients.sh).
const HELMS = { 'helm 3': 'helm-3', 'helm 4': 'helm' } as const;
const skip = missingFetched('helm', 'helm-3') ?? false;

type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec?: Record<string, unknown> } & Record<string, unknown>;

/** The kubernetes-models class for apiVersion/kind (core: kubernetes-models/v1; CRDs from their own package). */
async function modelOf(apiVersion: string, kind: string): Promise<new (data: unknown) => { validate(): void }> {
  const module = apiVersion.startsWith('monitoring.coreos.com/')
    ? `@kubernetes-models/prometheus-operator/${apiVersion}`
    : `kubernetes-models/${apiVersion}`;
  const models = (await import(module)) as Record<string, new (data: unknown) => { validate(): void }>;
  const model = models[kind];
  if (!model) throw new Error(`no schema for ${apiVersion} ${kind}`);
  return model;
}

/** Validates a manifest against its API schema; returns the error message, or undefined when valid. */
async function schemaErrors(doc: Manifest): Promise<string | undefined> {
  const Model = await modelOf(doc.apiVersion, doc.kind);
  try {
    new Model(doc).validate();
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

async function render(helm: Helm, args: readonly string[]): Promise<Manifest[]> {
  const out = await helm.run(['template', 'reg', CHART, ...args]);
  return parseAllDocuments(out.stdout)
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null);
}

const valuesFiles = async () => (await readdir(join(CHART, 'ci'))).filter((f) => f.endsWith('.yaml')).sort();

for (const [label, name] of Object.entries(HELMS)) {
  test(`chart with ${label}`, { skip }, async (t) => {
    const home = await tempDir('ferro-helm-');
    t.after(() => removeDir(home));
    const helm = await Helm.create(name, home);
    const version = (await helm.run(['version', '--short'])).stdout.trim();
    t.diagnostic(`${label}: ${version}`);

    await t.test('helm lint passes with the default values and every ci/ values file', async () => {
      await helm.run(['lint', '--strict', CHART]);
      for (const file of await valuesFiles()) await helm.run(['lint', '--strict', CHART, '-f', join(CHART, 'ci', file)]);
    });

    await t.test('every rendered manifest is valid against the Kubernetes API schemas', async (st) => {
      const sets: Array<[string, string[]]> = [['default values', []], ...(await valuesFiles()).map((f): [string, string[]] => [f, ['-f', join(CHART, 'ci', f)]])];
      for (const [name, args] of sets) {
        const docs = await render(helm, args);
        for (const doc of docs) assert.equal(await schemaErrors(doc), undefined, `${name}: ${doc.kind} ${doc.metadata.name}`);
        st.diagnostic(`${name}: ${docs.map((d) => d.kind).join(', ')}`);
      }
    });

    await t.test('the schema check catches an invalid manifest', async () => {
      const [sts] = (await render(helm, [])).filter((d) => d.kind === 'StatefulSet');
      assert.ok(sts);
      const broken = structuredClone(sts) as Manifest & { spec: { replicas: unknown } };
      broken.spec.replicas = 'one';
      assert.match((await schemaErrors(broken)) ?? '', /replicas/);
      const noSelector = structuredClone(sts) as Manifest & { spec: { selector?: unknown } };
      delete noSelector.spec.selector;
      assert.match((await schemaErrors(noSelector)) ?? '', /selector/);
    });

    await t.test('filesystem mode: one StatefulSet replica on a PVC, restricted pod, probes on /live and /ready', async () => {
      const docs = await render(helm, []);
      assert.deepEqual(docs.map((d) => d.kind).sort(), ['ConfigMap', 'PodDisruptionBudget', 'Service', 'StatefulSet']);
      const sts = docs.find((d) => d.kind === 'StatefulSet') as any;
      assert.equal(sts.spec.replicas, 1);
      assert.equal(sts.spec.volumeClaimTemplates[0].spec.resources.requests.storage, '20Gi');
      const pod = sts.spec.template.spec;
      assert.deepEqual(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, fsGroupChangePolicy: 'OnRootMismatch', seccompProfile: { type: 'RuntimeDefault' } });
      const c = pod.containers[0];
      assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
      assert.equal(c.livenessProbe.httpGet.path, '/live');
      assert.equal(c.readinessProbe.httpGet.path, '/ready');
      assert.deepEqual(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath), ['/tmp', '/var/lib/ferro-oci']);
      const cm = docs.find((d) => d.kind === 'ConfigMap') as any;
      assert.equal(cm.data.FERRO_OCI_STORAGE_DIR, '/var/lib/ferro-oci');
      assert.equal(cm.data.FERRO_OCI_CONFIG, undefined, 'no configuration file without config values');
      assert.equal(pod.terminationGracePeriodSeconds, 40);
    });

    await t.test('filesystem mode with auth: config.yaml in the ConfigMap, secrets mounted from existing Secrets', async () => {
      const docs = await render(helm, ['-f', join(CHART, 'ci/filesystem-full.yaml')]);
      const cm = docs.find((d) => d.kind === 'ConfigMap') as any;
      assert.equal(cm.data.FERRO_OCI_CONFIG, '/etc/ferro-oci/config/config.yaml');
      assert.match(cm.data['config.yaml'], /htpasswd: \/etc\/ferro-oci\/secrets\/htpasswd\/htpasswd/);
      const pod = (docs.find((d) => d.kind === 'StatefulSet') as any).spec.template.spec;
      assert.deepEqual(pod.volumes.filter((v: { secret?: unknown }) => v.secret).map((v: { secret: { secretName: string } }) => v.secret.secretName), ['registry-htpasswd', 'registry-token-key']);
      assert.ok(!docs.some((d) => d.kind === 'Secret'), 'the chart creates no Secret');
      assert.ok(docs.some((d) => d.kind === 'Ingress'));
      assert.ok(docs.some((d) => d.kind === 'ServiceMonitor'));
    });

    await t.test('s3-postgres mode: a Deployment of several replicas, credentials from existing Secrets, no PVC', async () => {
      const docs = await render(helm, ['-f', join(CHART, 'ci/s3-postgres.yaml')]);
      assert.ok(!docs.some((d) => d.kind === 'StatefulSet'));
      const dep = docs.find((d) => d.kind === 'Deployment') as any;
      assert.equal(dep.spec.replicas, 3);
      const c = dep.spec.template.spec.containers[0];
      assert.deepEqual(
        c.env.map((e: { name: string; valueFrom: { secretKeyRef: { name: string; key: string } } }) => [e.name, e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key]),
        [
          ['FERRO_OCI_METADATA_URL', 'registry-postgres', 'url'],
          ['FERRO_OCI_S3_ACCESS_KEY', 'registry-s3', 'access-key-id'],
          ['FERRO_OCI_S3_SECRET_KEY', 'registry-s3', 'secret-access-key'],
        ],
      );
      assert.deepEqual(c.volumeMounts.map((m: { mountPath: string }) => m.mountPath), ['/tmp']);
      const cm = docs.find((d) => d.kind === 'ConfigMap') as any;
      assert.equal(cm.data.FERRO_OCI_STORAGE_DIR, '', 'the image default storage dir is switched off');
      assert.equal(cm.data.FERRO_OCI_S3_BUCKET, 'registry-blobs');
      assert.equal(cm.data.FERRO_OCI_S3_ENDPOINT, 'http://rgw.storage.svc:7480');
    });

    await t.test('values.schema.json refuses bad values with a message naming them', async () => {
      const bad = async (args: string[], pattern: RegExp) => {
        const r = await helm.run(['template', 'reg', CHART, ...args], { allowFailure: true });
        assert.notEqual(r.code, 0, `helm template ${args.join(' ')} should fail`);
        assert.match(r.stderr, pattern);
      };
      await bad(['--set', 'storage.mode=nfs'], /mode/);
      await bad(['--set', 'storage.mode=s3-postgres'], /bucket|existingSecret/);
      await bad(['--set', 'storage.mode=s3-postgres', '--set', 'storage.s3.bucket=b'], /existingSecret/);
      await bad(['--set', 'replicaCount=2'], /replicaCount/);
    });

    await t.test('helm push / helm pull of the packaged chart through ferro-oci-server', async () => {
      const server = await startServer({ env: { FERRO_OCI_STORAGE_DIR: join(home, 'registry') } });
      t.after(() => server.kill());
      const pkgDir = join(home, 'pkg');
      const pullDir = join(home, 'pulled');
      await mkdir(pullDir, { recursive: true });
      await helm.run(['package', CHART, '-d', pkgDir]);
      const [tgz] = await readdir(pkgDir);
      assert.equal(tgz, 'ferro-oci-server-0.1.0.tgz');
      const host = `127.0.0.1:${server.port}`;
      const digest = Helm.pushedDigest(await helm.oci(['push', join(pkgDir, tgz!), `oci://${host}/charts`]));
      const manifest = await fetch(`http://${host}/v2/charts/ferro-oci-server/manifests/0.1.0`, { method: 'HEAD', headers: { accept: 'application/vnd.oci.image.manifest.v1+json' } });
      assert.equal(manifest.headers.get('docker-content-digest'), digest, 'the registry serves the manifest helm pushed');
      await helm.oci(['pull', `oci://${host}/charts/ferro-oci-server`, '--version', '0.1.0', '-d', pullDir]);
      assert.deepEqual(await readFile(join(pullDir, tgz!)), await readFile(join(pkgDir, tgz!)), 'the pulled chart is the pushed one, byte for byte');
      const shown = await helm.oci(['show', 'chart', `oci://${host}/charts/ferro-oci-server`, '--version', '0.1.0']);
      assert.match(shown.stdout, /^name: ferro-oci-server$/m);
      await server.stop();
    });
  });
}
