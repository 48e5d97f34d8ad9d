// Helpers shared by the scripted OCPP chargers (charger.mjs: 1.6J, station201.mjs: 2.0.1 / 2.1) and
// the 2.x self-check: command-line options, the JSON-lines output the Python tests parse, wire
// diagnostics, TLS options (security profiles 2 and 3) and charging-schedule arithmetic.
import { readFileSync, writeFileSync } from 'node:fs';

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
// Every charger also takes the TLS options below (TLS_OPTIONS) and --password.
export function parseOptions(argv, defaults, spec, usage) {
  const opts = { url: process.env.OCPP_URL, password: process.env.OCPP_PASSWORD || undefined, ...defaults };
  const { numeric = {}, strings = {}, flags = {} } = spec;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg in numeric) opts[numeric[arg]] = Number(argv[++i]);
    else if (arg in strings) opts[strings[arg]] = argv[++i];
    else if (arg in TLS_OPTIONS) opts[TLS_OPTIONS[arg]] = argv[++i];
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

// ------------------------------------------------------------------------------------------- TLS
// Security profile 2 (wss:// + Basic auth) and 3 (wss:// + a client certificate). ocpp-rpc hands
// `wsOpts` to the `ws` package, which hands them to node:tls.connect.
//   --ca FILE               the CA (PEM) to trust for the server certificate; the only trust anchor
//                           (the system's roots are not used), as on a charger with a CSMS root
//   --cert FILE --key FILE  client certificate (PEM, chain allowed) and its private key; with
//                           --csr the certificate file is written when CertificateSigned arrives
//   --csr FILE              a CSR (PEM) made for --key: sent with SignCertificate after boot; the
//                           certificate that comes back is written to --cert, and the charger
//                           reconnects with it (no Basic auth any more: the certificate is its proof)
//   --tls-min-version V     TLSv1 | TLSv1.1 | TLSv1.2 | TLSv1.3 (node's default minimum: TLSv1.2)
//   --tls-max-version V     an old maximum (TLSv1.1) lowers the minimum to TLSv1 unless given
//   --ciphers LIST          OpenSSL cipher list for TLS <= 1.2 (e.g. DEFAULT:@SECLEVEL=0 for 1.0/1.1)
export const TLS_OPTIONS = {
  '--ca': 'caFile',
  '--cert': 'certFile',
  '--key': 'keyFile',
  '--csr': 'csrFile',
  '--tls-min-version': 'tlsMinVersion',
  '--tls-max-version': 'tlsMaxVersion',
  '--ciphers': 'ciphers',
};
const OLD_TLS = ['TLSv1', 'TLSv1.1'];

// The client certificate is in use once its file exists (with --csr: once CertificateSigned came).
export function hasClientCertificate(opts) {
  if (!opts.certFile || !opts.keyFile) return false;
  try {
    return readFileSync(opts.certFile, 'utf8').includes('BEGIN CERTIFICATE');
  } catch {
    return false;
  }
}

// The `wsOpts` for RPCClient: TLS settings for a wss:// URL ({} for ws://).
export function wsOptions(opts) {
  if (!opts.url.startsWith('wss://')) return {};
  const tls = {};
  if (opts.caFile) tls.ca = readFileSync(opts.caFile);
  if (hasClientCertificate(opts)) {
    tls.cert = readFileSync(opts.certFile);
    tls.key = readFileSync(opts.keyFile);
  }
  if (opts.tlsMaxVersion) tls.maxVersion = opts.tlsMaxVersion;
  if (opts.tlsMinVersion) tls.minVersion = opts.tlsMinVersion;
  else if (OLD_TLS.includes(opts.tlsMaxVersion)) tls.minVersion = 'TLSv1';
  if (opts.ciphers) tls.ciphers = opts.ciphers;
  return tls;
}

// The OCPP security profile this charger connects with: 3 with a client certificate, 2 over TLS,
// 1 with a password, else 0.
export function connectionProfile(opts, password) {
  if (opts.url.startsWith('wss://')) return hasClientCertificate(opts) ? 3 : 2;
  return password ? 1 : 0;
}

// The certificate (chain) of a CertificateSigned, stored where --cert points.
export function storeCertificate(opts, chainPem) {
  writeFileSync(opts.certFile, chainPem.endsWith('\n') ? chainPem : `${chainPem}\n`);
}

// What made a connection attempt fail: the HTTP status of a refused websocket handshake, or the
// TLS / socket error code (CERT_HAS_EXPIRED, UNABLE_TO_VERIFY_LEAF_SIGNATURE,
// ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION, ECONNRESET ...).
export function connectError(err) {
  const numeric = typeof err?.code === 'number';
  return {
    message: String(err?.message ?? err),
    http_status: numeric ? err.code : null,
    error_code: numeric ? null : (err?.code ?? null),
    reason: err?.reason ?? err?.library ?? null,
  };
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
