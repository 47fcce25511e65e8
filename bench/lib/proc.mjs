// Renderer CPU time and peak RSS of Chromium's processes from /proc (Linux), for
// bench/speed.mjs: per-process snapshots and the CPU seconds between two of them.

import fs from 'node:fs';

export const CLK_TCK = 100; // Linux USER_HZ, the unit of /proc/<pid>/stat times


function readStat(file) {
  // pid (comm) state ppid ... utime(14) stime(15): comm may hold spaces and parentheses
  const s = fs.readFileSync(file, 'utf8');
  const close = s.lastIndexOf(')');
  const comm = s.slice(s.indexOf('(') + 1, close);
  const f = s.slice(close + 2).split(' ');
  return { comm, ticks: Number(f[11]) + Number(f[12]) };
}

/** CPU ticks of each thread of `pid`, by thread id. */
export function threadTicks(pid) {
  const out = new Map();
  let tids = [];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tids) {
    try {
      out.set(tid, readStat(`/proc/${pid}/task/${tid}/stat`));
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return out;
}

export function processSnapshot(pid) {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { cpu: readStat(`/proc/${pid}/stat`).ticks, hwm_kib: kib('VmHWM'), rss_kib: kib('VmRSS'), threads: threadTicks(pid) };
  } catch {
    return null;
  }
}

/** CPU seconds between two snapshots, in all and per thread name (busiest first). */
export function cpuDelta(a, b) {
  if (!a || !b) return null;
  const byName = {};
  for (const [tid, t] of b.threads) {
    const d = t.ticks - (a.threads.get(tid)?.ticks ?? 0);
    if (d > 0) byName[t.comm] = (byName[t.comm] ?? 0) + d / CLK_TCK;
  }
  const threads = Object.fromEntries(Object.entries(byName).sort((x, y) => y[1] - x[1]));
  return { total_s: (b.cpu - a.cpu) / CLK_TCK, threads };
}
