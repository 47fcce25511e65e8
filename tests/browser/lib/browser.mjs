// Headless Chromium (Debian's /usr/bin/chromium), one fresh profile per launch. WebGPU is enabled
// (--enable-unsafe-webgpu: SwiftShader's CPU-emulated adapter here); without that flag this
// Chromium still has navigator.gpu but no adapter, which is how tests see a machine without WebGPU.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Resolves to {context, close()}: a browser context with its own new, empty profile.
 * webgpu: false launches Chromium without a WebGPU adapter.
 */
export async function launchBrowser({ webgpu = true } = {}) {
  const profile = await mkdtemp(join(tmpdir(), 'verbatim-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: webgpu ? [...ARGS, '--enable-unsafe-webgpu'] : ARGS,
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
