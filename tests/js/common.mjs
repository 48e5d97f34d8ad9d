// Helpers shared by the scripted OCPP chargers (charger.mjs: 1.6J, station201.mjs: 2.0.1 / 2.1) and
// the 2.x self-check: command-line options, the JSON-lines output the Python tests parse, wire
// diagnostics and charging-schedule arithmetic.

// ---------------------------------------------------------------------------------------- output
// ONE JSON OBJECT PER LINE on stdout: {"step": ..., "t": <ms since epoch>, ...data}.
export function emit(step, data = {}) {
  process.stdout.write(JSON.stringify({ step, t: Date.now(), ...data }) + '\n');
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
export const now = () => new Date().toISOString();
export const round1 = (x) => Math.round(x * 10) / 10;

// Follow-up messages go out after our reply to the current call (as real chargers do).
export function later(fn, ms = 50) {
  setTimeout(() => fn().catch((err) => emit('error', { where: 'follow-up', message: String(err?.message ?? err) })), ms);
}

// --------------------------------------------------------------------------------------- options
// `spec`: {numeric: {'--flag': 'key'}, strings: {...}, flags: {'--flag': 'key'} (booleans)}.
// A ws:// or wss:// argument is the URL; OCPP_URL / OCPP_PASSWORD from the environment are defaults.
export function parseOptions(argv, defaults, spec, usage) {
  const opts = { url: process.env.OCPP_URL, password: process.env.OCPP_PASSWORD || undefined, ...defaults };
  const { numeric = {}, strings = {}, flags = {} } = spec;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg in numeric) opts[numeric[arg]] = Number(argv[++i]);
    else if (arg in strings) opts[strings[arg]] = argv[++i];
    else if (arg in flags) opts[flags[arg]] = true;
    else if (arg === '--password') opts.password = argv[++i];
    else if (arg.startsWith('ws://') || arg.startsWith('wss://')) opts.url = arg;
    else throw new Error(`unknown argument ${arg}`);
  }
  if (!opts.url) throw new Error(`usage: ${usage}`);
  return { ...opts, ...splitUrl(opts.url) };
}

// ocpp-rpc appends "/<identity>" to the endpoint itself: split the URL at its last segment.
export function splitUrl(raw) {
  const url = new URL(raw);
  const segments = url.pathname.split('/');
  const identity = decodeURIComponent(segments.pop());
  url.pathname = segments.join('/') || '/';
  return { identity, endpoint: url.toString().replace(/\/$/, '') };
}

// ---------------------------------------------------------------------------------- diagnostics
// Every strict-mode schema failure (either direction) and every malformed frame becomes a line;
// `counters.strict` counts the former (the chargers exit with code 4 when it is not 0).
export function watchWire(cli, counters) {
  cli.on('strictValidationFailure', (event) => {
    counters.strict++;
    emit('strict_validation_failure', {
      method: event.method,
      outbound: event.outbound,
      is_call: event.isCall,
      error: String(event.error?.message ?? event.error),
      params: event.params,
      result: event.result,
    });
  });
  cli.on('badMessage', (event) => emit('bad_message', { error: String(event.error), message: String(event.buffer) }));
}

// An error that ends the process with a given exit code.
export function fail(message, exitCode) {
  return Object.assign(new Error(message), { exitCode });
}

// Run `main` (resolving to an exit code) and exit; an error becomes an `error` line.
export function runMain(main) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      emit('error', { message: String(err?.message ?? err), code: err?.rpcErrorCode ?? null, details: err?.details ?? null });
      process.exit(err?.exitCode ?? 1);
    },
  );
}

// ---------------------------------------------------------------------------- charging schedules
const DAY_MS = 24 * 3600 * 1000;

// When a recurring schedule last (re)started at or before `at` (OCPP: Daily / Weekly from its
// startSchedule).
export function recurringStart(startMs, recurrencyKind, at) {
  const period = recurrencyKind === 'Weekly' ? 7 * DAY_MS : DAY_MS;
  if (at < startMs) return startMs;
  return startMs + Math.floor((at - startMs) / period) * period;
}

// The schedule period in force at `at` for a schedule that started at `startMs`; undefined when the
// schedule has not started, has run out (`duration`) or has no period yet.
export function activePeriod(schedule, startMs, at) {
  const elapsed = (at - startMs) / 1000;
  if (elapsed < 0) return undefined;
  if (schedule.duration !== undefined && elapsed >= schedule.duration) return undefined;
  let active;
  for (const period of schedule.chargingSchedulePeriod) if (period.startPeriod <= elapsed) active = period;
  return active;
}

// A schedule limit in A per phase (W are converted with the phases the period uses, default 3).
export function toAmps(limit, unit, numberPhases, voltage) {
  return unit === 'W' ? limit / (voltage * (numberPhases ?? 3)) : limit;
}
