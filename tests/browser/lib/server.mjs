// Starts tools/serve.py on a free port for one test file and records the requests it answers.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { MODELS_DIR, REPO_ROOT, WWW_DIR } from './env.mjs';

/**
 * Serves `root` at / and `models` at /models/. Resolves to
 * {url, requests: [{method, path, status}], requestsTo(prefix), close()}.
 */
export async function startServer({ root = WWW_DIR, models = MODELS_DIR } = {}) {
  const child = spawn('python3', [join(REPO_ROOT, 'tools/serve.py'), '--port', '0', '--root', root, '--models', models], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const requests = [];
  const stderr = [];
  createInterface({ input: child.stderr }).on('line', (line) => {
    // 127.0.0.1 "GET /models/cache/x.gguf HTTP/1.1" 200 -
    const match = /"([A-Z]+) (\S+) HTTP\/[\d.]+" (\d{3})/.exec(line);
    if (match) requests.push({ method: match[1], path: match[2], status: Number(match[3]) });
    else stderr.push(line);
  });
  const stdout = createInterface({ input: child.stdout });
  const url = await Promise.race([
    new Promise((resolve) => stdout.once('line', (line) => resolve(/(http:\/\/\S+\/)/.exec(line)?.[1]))),
    once(child, 'exit').then(([code]) => {
      throw new Error(`tools/serve.py exited with ${code}: ${stderr.join('\n')}`);
    }),
  ]);
  if (!url) throw new Error('tools/serve.py did not print its address');
  return {
    url,
    requests,
    requestsTo: (prefix) => requests.filter((r) => r.path.startsWith(prefix)),
    async close() {
      if (child.exitCode === null) {
        child.kill();
        await once(child, 'exit');
      }
    },
  };
}
