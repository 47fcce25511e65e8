// The browser benchmarks' command lines: `--name value` options and bare flags.

/**
 * Reads `argv` into `opts` (which holds the defaults): `ints` maps an option to the key of a
 * positive integer, `strings` to the key of a string, `flags` to the key set to the given value
 * when the flag is present. Anything else, a missing value or a bad integer goes to `usage`
 * (which exits); -h and --help call it with no message.
 */
export function parseOptions(argv, opts, { ints = {}, strings = {}, flags = {} }, usage) {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`);
      return argv[++i];
    };
    if (a in ints) {
      const v = Number(value());
      if (!Number.isInteger(v) || v < 1) usage(`${a} must be a positive integer`);
      opts[ints[a]] = v;
    } else if (a in strings) opts[strings[a]] = value();
    else if (a in flags) opts[flags[a][0]] = flags[a][1];
    else if (a === '-h' || a === '--help') usage();
    else usage(`unknown argument ${a}`);
  }
  return opts;
}
