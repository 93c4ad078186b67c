// cli/commands/layer.ts — `tsctl layer import|ls|inspect|rm|mount|unmount|export|check` on tsd's
// /layers API. Import and export stream (never buffered) and draw a progress bar on stderr when
// stderr is a terminal.

import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import type { ApiLayerCheck } from '../../core/api/routes/layers.js';
import type { ApiLayer } from '../../core/service/layers.js';
import { ApiClient } from '../api-client.js';
import { CliContext, UsageError } from '../context.js';
import { checkTemplate, formatInspect, formatList } from '../output.js';
import { humanDuration, humanSize, progressStream } from '../progress.js';

const LS_COLUMNS = { ID: 'LAYER ID', Parent: 'PARENT', Driver: 'DRIVER', Size: 'SIZE', Mounts: 'MOUNTS', Created: 'CREATED' };

const layerPath = (ref: string) => `/layers/${encodeURIComponent(ref)}`;

export function layerCommand(ctx: CliContext): Command {
  const cmd = new Command('layer').description('Manage layers (graph driver storage)');
  const progressTo = () => (ctx.io.stderrIsTTY ? ctx.io.stderr : undefined);

  cmd
    .command('import')
    .description('Import an uncompressed tar (a file, or - for stdin) as a new layer')
    .argument('<file>', 'tar file, or - to read stdin')
    .option('-p, --parent <layer>', 'parent layer id (default: a base layer)')
    .option('-d, --driver <driver>', 'graph driver (default: the parent\'s, else tsd-overlay2)')
    .action(async (file: string, o: { parent?: string; driver?: string }) => {
      let input: NodeJS.ReadableStream;
      let total: number | undefined;
      if (file === '-') {
        if (!ctx.io.stdin) throw new UsageError('reading a tar from stdin is not available here');
        input = ctx.io.stdin;
      } else {
        let st: fs.Stats;
        try { st = fs.statSync(file); } catch (e) { throw new UsageError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`); }
        if (!st.isFile()) throw new UsageError(`${file}: not a regular file`);
        total = st.size;
        input = fs.createReadStream(file, { highWaterMark: 1 << 20 });
      }
      const body = input.pipe(progressStream('Importing', total, progressTo()));
      const res = await ctx.client.stream('POST', `/layers/import${ApiClient.query({ parent: o.parent, driver: o.driver })}`, body);
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      const layer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiLayer;
      ctx.out(`${layer.Id}\n`);
    });

  cmd
    .command('ls')
    .alias('list')
    .description('List layers')
    .option('-q, --quiet', 'only display layer ids')
    .option('--no-trunc', 'do not truncate ids')
    .option('--format <format>', 'table, json, or a template like {{.ID}}')
    .action(async (o: { quiet?: boolean; trunc: boolean; format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const layers = await ctx.client.call<ApiLayer[]>('GET', '/layers');
      const short = (id: string) => (o.trunc ? id.slice(0, 12) : id);
      if (o.quiet) return ctx.out(layers.map((l) => short(l.Id) + '\n').join(''));
      if (o.format === 'json') return ctx.out(layers.map((l) => JSON.stringify(l) + '\n').join(''));
      const now = Date.now();
      const rows = layers.map((l) => ({
        ID: short(l.Id), Parent: l.Parent ? short(l.Parent) : '<none>', Driver: l.Driver, Size: humanSize(l.Size), Mounts: l.Mounts,
        Created: `${humanDuration(now - Date.parse(l.Created))} ago`, DiffID: l.DiffId,
      }));
      ctx.out(formatList(rows, LS_COLUMNS, o.format));
    });

  cmd
    .command('inspect')
    .description('Display detailed information on one or more layers')
    .argument('<layer...>')
    .option('-f, --format <format>', 'json, or a template like {{.DiffId}}')
    .action(async (refs: string[], o: { format?: string }) => {
      if (o.format) { const bad = checkTemplate(o.format); if (bad) throw new UsageError(bad); }
      const found: ApiLayer[] = [];
      const errors: string[] = [];
      for (const r of refs) {
        try { found.push(await ctx.client.call<ApiLayer>('GET', layerPath(r))); } catch (e) { errors.push((e as Error).message); }
      }
      if (found.length || !errors.length) ctx.out(formatInspect(found, o.format));
      for (const e of errors) ctx.fail(e);
    });

  cmd
    .command('rm')
    .alias('remove')
    .description('Remove one or more layers (not while mounted or a parent)')
    .argument('<layer...>')
    .action(async (refs: string[]) => {
      for (const r of refs) {
        try {
          await ctx.client.call('DELETE', layerPath(r));
          ctx.out(`${r}\n`);
        } catch (e) {
          ctx.fail((e as Error).message);
        }
      }
    });

  cmd
    .command('mount')
    .description('Mount a layer with its parents and print the directory')
    .argument('<layer>')
    .action(async (ref: string) => {
      const r = await ctx.client.call<{ Path: string }>('POST', `${layerPath(ref)}/mount`);
      ctx.out(`${r.Path}\n`);
    });

  cmd
    .command('unmount')
    .alias('umount')
    .description('Release one mount of a layer')
    .argument('<layer>')
    .action(async (ref: string) => {
      const r = await ctx.client.call<ApiLayer>('POST', `${layerPath(ref)}/unmount`);
      ctx.out(`${r.Id}\n`);
    });

  cmd
    .command('export')
    .alias('diff')
    .description('Write a layer\'s changes against its parent as a tar (AUFS whiteouts)')
    .argument('<layer>')
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .action(async (ref: string, o: { output?: string }) => {
      if (!o.output && ctx.io.stdoutIsTTY) throw new UsageError('cowardly refusing to write a tar to a terminal: use -o or redirect');
      if (!o.output && !ctx.io.stdoutStream) throw new UsageError('writing to stdout is not available here: use -o');
      const layer = await ctx.client.call<ApiLayer>('GET', layerPath(ref));
      let fd: number | undefined;
      if (o.output) {
        try { fd = fs.openSync(o.output, 'wx', 0o644); } catch (e) { throw new UsageError(`${o.output}: ${(e as NodeJS.ErrnoException).code === 'EEXIST' ? 'already exists' : (e as Error).message}`); }
      }
      const file = fd !== undefined ? fs.createWriteStream('', { fd }) : undefined;
      const out = file ?? ctx.io.stdoutStream!;
      try {
        const res = await ctx.client.stream('GET', `${layerPath(layer.Id)}/diff`);
        await pipeline(res, progressStream('Exporting', undefined, progressTo()), out, { end: !!o.output });
        if (!res.complete) throw new Error(`export of layer ${layer.Id}: tsd cut the stream (see tsd's log)`);
      } catch (e) {
        if (file) { file.destroy(); fs.rmSync(o.output!, { force: true }); }
        throw e;
      }
    });

  cmd
    .command('check')
    .description('Check tsd\'s layers against their files and the kernel\'s mounts; --repair fixes what is safe (exit 1 while problems remain)')
    .option('--repair', 'fix what is safe: interrupted operations, apply leftovers, mount counts, records whose files are gone with nothing on top')
    .option('--format <format>', 'json for the API\'s answer')
    .action(async (o: { repair?: boolean; format?: string }) => {
      if (o.format && o.format !== 'json') throw new UsageError(`--format ${o.format}: check takes json only`);
      const r = await ctx.client.call<ApiLayerCheck>('POST', `/layers/check${ApiClient.query({ repair: o.repair ? '1' : undefined })}`);
      if (o.format === 'json') ctx.out(JSON.stringify(r, null, 2) + '\n');
      else ctx.out(formatLayerCheck(r, !!o.repair));
      if (r.Remaining > 0) ctx.exitCode = 1;
    });

  return cmd;
}

/** One block per problem (what, then what was or would be done), and a summary line. */
export function formatLayerCheck(r: ApiLayerCheck, repair: boolean): string {
  let s = '';
  for (const p of r.Problems) {
    s += `${p.Layer.slice(0, 12)}  ${p.Kind}: ${p.Detail}\n`;
    const what = p.Action === 'none' ? `not repaired: ${p.Reason ?? ''}`
      : p.Status === 'repaired' ? `repaired: ${p.Action}`
      : p.Status === 'gone' ? 'resolved meanwhile (re-checked before repairing)'
      : p.Status === 'failed' ? `repair failed (${p.Action}): ${p.Error ?? ''}`
      : repair ? `not repaired: ${p.Action}` : `--repair would: ${p.Action}`;
    s += `    ${what}\n`;
  }
  const repaired = r.Problems.filter((p) => p.Status === 'repaired').length;
  s += r.Problems.length === 0
    ? `${r.Checked} layer(s) checked: no problems\n`
    : `${r.Checked} layer(s) checked: ${r.Problems.length} problem(s), ${repaired} repaired, ${r.Remaining} remaining\n`;
  return s;
}
