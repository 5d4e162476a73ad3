/**
 * Helm charts as OCI artifacts against ferro-oci-server (filesystem+sqlite):
 * helm 4.1 and, as a second suite, helm 3.17. Charts are made offline
 * (`helm create` + `helm package`). helm pushes a manifest without a
 * mediaType field (helm config + the chart .tgz as a layer), turns `+` of a
 * SemVer into `_` in the tag, resolves "latest" from tags/list, pulls by
 * digest, resolves oci:// dependencies and pushes the .prov of a signed
 * chart as a second layer. helm cannot delete: the suite deletes over HTTP
 * and helm must then fail to pull.
 */
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { clientSuite, versionOf, type ModeContext } from './harness.js';
import { fetchedBinary, fetchedVersion, missingFetched } from './clients/fetched.js';
import { Helm } from './clients/helm.js';
import { digestOf, MT } from './images.js';

const CHART_LAYER = 'application/vnd.cncf.helm.chart.content.v1.tar+gzip';
const PROV_LAYER = 'application/vnd.cncf.helm.chart.provenance.v1.prov';

interface ChartManifest {
  mediaType?: string;
  config: { mediaType: string };
  layers: Array<{ mediaType: string; digest: string }>;
}

/** Asserts that the only file in `dir` has the bytes of `expected`; returns its name. */
async function assertPulled(dir: string, expected: string): Promise<string> {
  const files = await readdir(dir);
  assert.equal(files.length, 1, `one file pulled into ${dir}: ${files.join(', ')}`);
  assert.ok((await readFile(join(dir, files[0]!))).equals(await readFile(expected)), `${files[0]} differs from ${expected}`);
  return files[0]!;
}

function helmSuite(name: 'helm' | 'helm-3'): void {
  clientSuite(
    name,
    {
      requires: ['gpg', 'gpgconf'],
      modes: ['fs'],
      unavailable: () => missingFetched(name),
      versions: async () => ({ helm: `${await versionOf(fetchedBinary(name), ['version', '--short'])} (upstream binary from npm ${fetchedVersion(name)})` }),
    },
    ({ step }) => {
      let client: Helm | undefined;
      const helm = async (ctx: ModeContext) => {
        if (!client) {
          const created = await Helm.create(name, ctx.tmp);
          ctx.cleanup(() => created.cleanup());
          client = created;
        }
        return client;
      };
      const oci = (ctx: ModeContext) => `oci://${ctx.registry.host}/${ctx.repoPrefix}`;
      const chart = (h: Helm, version: string) => join(h.dir, `tiny-${version}.tgz`);
      const pullDir = async (h: Helm, sub: string) => {
        const dir = join(h.dir, 'pulled', sub); // helm pull -d wants an existing dir
        await mkdir(dir, { recursive: true });
        return dir;
      };

      const PUSH = 'create and package tiny 0.1.0 and 0.2.0+build.7; push both: printed digest = served manifest, chart layer = the .tgz, + becomes _ in the tag';
      step(
        PUSH,
        async (ctx) => {
          const h = await helm(ctx);
          await h.run(['create', 'tiny']);
          const chartYaml = join(h.dir, 'tiny', 'Chart.yaml');
          await writeFile(chartYaml, (await readFile(chartYaml, 'utf8')).replace(/^version: .*$/m, 'version: 0.1.0'));
          await h.run(['package', 'tiny']);
          await h.run(['package', 'tiny', '--version', '0.2.0+build.7']);
          const repo = ctx.repo('tiny');
          const first = Helm.pushedDigest(await h.oci(['push', chart(h, '0.1.0'), oci(ctx)]));
          const m = await ctx.registry.expectManifest<ChartManifest>(repo, '0.1.0', first);
          assert.equal(m.config.mediaType, 'application/vnd.cncf.helm.config.v1+json');
          assert.deepEqual(
            m.layers.filter((l) => l.mediaType === CHART_LAYER).map((l) => l.digest),
            [digestOf(await readFile(chart(h, '0.1.0')))],
          );
          assert.equal((await ctx.registry.manifest(repo, '0.1.0')).contentType, MT.ociManifest);
          const second = Helm.pushedDigest(await h.oci(['push', chart(h, '0.2.0+build.7'), oci(ctx)]));
          await ctx.registry.expectManifest(repo, '0.2.0_build.7', second);
          assert.deepEqual(await ctx.registry.tags(repo), ['0.1.0', '0.2.0_build.7']);
          ctx.set('first', first);
          ctx.set('second', second);
        },
        { critical: true },
      );

      step('pull --version 0.1.0, pull without a version (the highest SemVer from tags/list), pull by digest: identical charts', async (ctx) => {
        const h = await helm(ctx);
        const ref = `${oci(ctx)}/tiny`;
        await h.oci(['pull', ref, '--version', '0.1.0', '-d', await pullDir(h, 'v1')]);
        assert.equal(await assertPulled(join(h.dir, 'pulled', 'v1'), chart(h, '0.1.0')), 'tiny-0.1.0.tgz');
        await h.oci(['pull', ref, '-d', await pullDir(h, 'latest')]);
        assert.equal(await assertPulled(join(h.dir, 'pulled', 'latest'), chart(h, '0.2.0+build.7')), 'tiny-0.2.0+build.7.tgz');
        await h.oci(['pull', `${ref}@${ctx.get('first')}`, '-d', await pullDir(h, 'digest')]);
        await assertPulled(join(h.dir, 'pulled', 'digest'), chart(h, '0.1.0'));
      });

      step('show chart, show values and template straight from the registry', async (ctx) => {
        const h = await helm(ctx);
        const ref = `${oci(ctx)}/tiny`;
        assert.match((await h.oci(['show', 'chart', ref, '--version', '0.2.0+build.7'])).stdout, /^version: 0\.2\.0\+build\.7$/m);
        assert.match((await h.oci(['show', 'values', ref, '--version', '0.1.0'])).stdout, /^replicaCount:/m);
        assert.match((await h.oci(['template', 'rel', ref, '--version', '0.1.0'])).stdout, /^kind: Deployment$/m);
      });

      step('dependency update of a chart whose dependency is in an oci:// repository', async (ctx) => {
        const h = await helm(ctx);
        await h.run(['create', 'parent']);
        const chartYaml = join(h.dir, 'parent', 'Chart.yaml');
        await writeFile(chartYaml, `${await readFile(chartYaml, 'utf8')}dependencies:\n  - name: tiny\n    version: ">=0.1.0 <0.2.0"\n    repository: ${oci(ctx)}\n`);
        await h.oci(['dependency', 'update', 'parent']);
        assert.ok((await readFile(join(h.dir, 'parent', 'charts', 'tiny-0.1.0.tgz'))).equals(await readFile(chart(h, '0.1.0'))), 'the fetched dependency is the pushed chart');
      });

      step('a signed chart (gpg): the .prov is pushed as a second layer; pull --verify checks it', async (ctx) => {
        const h = await helm(ctx);
        const { secring, pubring } = await h.signingKeys('Interop Test <interop@example.invalid>');
        const signed = join(h.dir, 'signed');
        await h.run(['package', 'tiny', '--version', '0.3.0', '--sign', '--key', 'Interop Test', '--keyring', secring, '-d', signed]);
        await h.oci(['push', join(signed, 'tiny-0.3.0.tgz'), oci(ctx)]);
        const m = (await ctx.registry.manifest(ctx.repo('tiny'), '0.3.0')).json<ChartManifest>();
        const prov = m.layers.find((l) => l.mediaType === PROV_LAYER);
        assert.ok(prov, `a provenance layer: ${m.layers.map((l) => l.mediaType).join(', ')}`);
        assert.equal(prov.digest, digestOf(await readFile(join(signed, 'tiny-0.3.0.tgz.prov'))));
        const dir = await pullDir(h, 'verified');
        await h.oci(['pull', `${oci(ctx)}/tiny`, '--version', '0.3.0', '-d', dir, '--verify', '--keyring', pubring]);
        assert.ok((await readFile(join(dir, 'tiny-0.3.0.tgz.prov'))).equals(await readFile(join(signed, 'tiny-0.3.0.tgz.prov'))));
      });

      step('DELETE 0.1.0 by digest over HTTP: 404, helm pull of 0.1.0 fails, 0.2.0+build.7 stays', async (ctx) => {
        const h = await helm(ctx);
        const repo = ctx.repo('tiny');
        const del = await ctx.registry.request('DELETE', `/v2/${repo}/manifests/${ctx.get('first')}`);
        assert.equal(del.status, 202);
        assert.equal(await ctx.registry.status('GET', `/v2/${repo}/manifests/0.1.0`), 404);
        const r = await h.oci(['pull', `${oci(ctx)}/tiny`, '--version', '0.1.0', '-d', await pullDir(h, 'deleted')], { allowFailure: true });
        assert.notEqual(r.code, 0, 'helm pull of the deleted chart must fail');
        await ctx.registry.expectManifest(repo, '0.2.0_build.7', ctx.get('second'));
        assert.ok(!(await ctx.registry.tags(repo)).includes('0.1.0'));
      });
    },
  );
}

helmSuite('helm');
helmSuite('helm-3');
