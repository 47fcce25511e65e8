// The built site as a reader gets it: tools/build_site.py's output under a sub-path of a plain
// static file server (`python3 -m http.server`, no custom headers), models from an emulated
// public host (tools/remote_origin.py: CORS, a redirect to a second origin, failure modes).

import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { REPO_ROOT } from './env.mjs';

const run = promisify(execFile);

/** Spawns `args` and resolves to {child, line} once a stdout line matches `pattern`. */
async function startPrinting(args, pattern, what) {
  const child = spawn(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (line) => stderr.push(line));
  const lines = createInterface({ input: child.stdout });
  const line = await Promise.race([
    new Promise((resolve) => lines.on('line', (l) => pattern.test(l) && resolve(l))),
    once(child, 'exit').then(([code]) => {
      throw new Error(`${what} exited with ${code}: ${stderr.join('\n')}`);
    }),
  ]);
  return {
    child,
    line,
    async close() {
      if (child.exitCode === null) {
        child.kill();
        await once(child, 'exit');
      }
    },
  };
}

/**
 * Starts tools/remote_origin.py. Resolves to {hub, cdn (base addresses), setMode(path, mode),
 * log() (the requests both answered), close()}.
 */
export async function startRemoteOrigin() {
  const started = await startPrinting(['python3', '-u', join(REPO_ROOT, 'tools/remote_origin.py')], /^\{/, 'tools/remote_origin.py');
  const { hub, cdn } = JSON.parse(started.line);
  return {
    hub,
    cdn,
    async setMode(path, mode) {
      const response = await fetch(new URL(`_control?${new URLSearchParams({ path, mode })}`, hub), { method: 'POST' });
      if (response.status !== 204) throw new Error(`remote origin: mode ${mode} for ${path}: HTTP ${response.status}`);
    },
    async log() {
      return (await fetch(new URL('_log', hub))).json();
    },
    close: started.close,
  };
}

/**
 * Builds the site into `out` (tools/build_site.py, as `make site`), models from `remote`, earlier
 * engines from `releases` (a folder of unpacked earlier sites; none if it does not exist).
 */
export async function buildSite(out, remote, releases) {
  const cdnOrigin = new URL(remote.cdn).origin;
  const args = [join(REPO_ROOT, 'tools/build_site.py'), '--out', out, '--releases', releases];
  args.push('--model-mirror', remote.hub, '--model-origin', cdnOrigin);
  await run('python3', args, { cwd: REPO_ROOT });
}

/**
 * Serves `root` with `python3 -m http.server` on 127.0.0.1 (a free port): plain files, its own
 * content types, no custom headers. wrongWasmType: .wasm files are sent as
 * application/octet-stream, as some hosts do. Resolves to {origin, close()}.
 */
export async function startStaticServer(root, { wrongWasmType = false } = {}) {
  const args = wrongWasmType
    ? [
        'python3',
        '-u',
        '-c',
        'import mimetypes, runpy, sys; mimetypes.init(); mimetypes.add_type("application/octet-stream", ".wasm"); ' +
          'sys.argv = ["http.server"] + sys.argv[1:]; runpy.run_module("http.server", run_name="__main__")',
      ]
    : ['python3', '-u', '-m', 'http.server'];
  const started = await startPrinting([...args, '0', '--bind', '127.0.0.1', '--directory', root], /port \d+/, 'http.server');
  const port = /port (\d+)/.exec(started.line)[1];
  return { origin: `http://127.0.0.1:${port}`, close: started.close };
}
