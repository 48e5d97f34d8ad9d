#!/usr/bin/env node
// An independent OCPP 1.6J charger, scripted with the npm package `ocpp-rpc` in STRICT mode.
//
// Why: our Python tests use the `ocpp` package on both sides, so they share one reading of the schemas.
// This charger validates every frame in both directions against ocpp-rpc's own 1.6 schemas (ajv, with
// date-time formats and multipleOf), so a server message that is not schema-valid shows up here.
//
// It drives one whole session and prints ONE JSON OBJECT PER LINE on stdout (the test parses them):
//   connected, boot, heartbeat, status, authorize, start_transaction, meter_values (repeated),
//   waiting_for_limit, received (one per incoming call, with the limit for SetChargingProfile),
//   limit_changed, stop_transaction, done  -- or `error` (exit code != 0); with --csr also
//   sign_certificate, certificate_signed and a `reconnect` + `connected` with the certificate;
//   downgrade_refused: a ChangeConfiguration(SecurityProfile) below the profile it connects with.
// Every strict-mode schema failure is printed as `strict_validation_failure` and makes the exit code 4.
// A connection that cannot be opened (TLS failure, HTTP refusal) prints `connect_failed` (the HTTP
// status or the TLS error code) and exits with code 6; no CertificateSigned in time: code 7.
//
// Usage: node charger.mjs <ws-url-ending-in-charger-id> [options]     (or OCPP_URL=...)
//   --password P           Basic-auth password (env OCPP_PASSWORD); also learnt from AuthorizationKey
//   --id-tag T             id tag to authorize (default TAG-0001)
//   --meter-start WH       energy register at start (default 1000000)
//   --meter-count N        MeterValues sent before waiting for a limit (default 3)
//   --meter-interval-ms MS pause between MeterValues (default 200)
//   --sim-seconds S        simulated seconds of charging per MeterValues sample (default: the real
//                          time since the previous sample; a faster time lapse reports energy no
//                          charger could deliver, which the central system does not count)
//   --expect-limit A       wait until the composite limit equals A amperes (default: any new profile)
//   --limit-timeout-ms MS  give up waiting for the limit change (default 30000, exit code 2)
//   --settle-ms MS         pause after boot so the server can configure us (default 300)
//   --cert-timeout-ms MS   with --csr: wait this long for CertificateSigned (default 15000)
//   --hold-ms MS           after the limit change and its MeterValues, go on charging this long
//                          before stopping (default 0: at once; the central system clears power at
//                          the stop, so a test that polls its model for the new power needs time)
//   TLS (wss:// URLs, security profiles 2 and 3): --ca, --cert, --key, --csr, --tls-min-version,
//                          --tls-max-version, --ciphers (see common.mjs TLS_OPTIONS)
import { readFileSync } from 'node:fs';

import { RPCClient } from 'ocpp-rpc';
import {
  activePeriod,
  connectError,
  connectionProfile,
  emit,
  fail,
  hasClientCertificate,
  later,
  now,
  parseOptions,
  round1,
  runMain,
  sleep,
  storeCertificate,
  toAmps,
  watchWire,
  wsOptions,
} from './common.mjs';

// ---------------------------------------------------------------------------------------- options
const opts = parseOptions(
  process.argv.slice(2),
  {
    idTag: 'TAG-0001',
    meterStart: 1000000,
    meterCount: 3,
    meterIntervalMs: 200,
    simSeconds: undefined,
    expectLimit: undefined,
    limitTimeoutMs: 30000,
    settleMs: 300,
    certTimeoutMs: 15000,
    holdMs: 0,
  },
  {
    numeric: {
      '--meter-start': 'meterStart',
      '--meter-count': 'meterCount',
      '--meter-interval-ms': 'meterIntervalMs',
      '--sim-seconds': 'simSeconds',
      '--expect-limit': 'expectLimit',
      '--limit-timeout-ms': 'limitTimeoutMs',
      '--settle-ms': 'settleMs',
      '--cert-timeout-ms': 'certTimeoutMs',
      '--hold-ms': 'holdMs',
    },
    strings: { '--id-tag': 'idTag' },
  },
  'node charger.mjs ws://host:port/path/CHARGER_ID [options]',
);
if (opts.csrFile && !(opts.certFile && opts.keyFile)) throw new Error('--csr needs --cert (written) and --key');

const wire = { strict: 0 }; // strict-mode schema failures seen (see common.watchWire)

// -------------------------------------------------------------------------------- charger state
const VOLTAGE = 230;
const CAR_MAX_A = 16; // the simulated car draws at most this per phase
const HARDWARE_MAX_A = 32;
const CONNECTOR = 1;

const config = new Map(
  Object.entries({
    SupportedFeatureProfiles: ['Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,RemoteTrigger', true],
    ChargeProfileMaxStackLevel: ['8', true],
    ChargingScheduleAllowedChargingRateUnit: ['Current,Power', true],
    ChargingScheduleMaxPeriods: ['10', true],
    MaxChargingProfilesInstalled: ['10', true],
    ConnectorSwitch3to1PhaseSupported: ['false', true],
    NumberOfConnectors: ['1', true],
    HeartbeatInterval: ['300', false],
    MeterValueSampleInterval: ['60', false],
    MeterValuesSampledData: ['Energy.Active.Import.Register', false],
    MeterValuesSampledDataMaxLength: ['8', true],
    ClockAlignedDataInterval: ['0', false],
    LocalAuthListEnabled: ['true', false],
    LocalAuthListMaxLength: ['100', true],
    SendLocalListMaxLength: ['100', true],
    AuthorizeRemoteTxRequests: ['false', false],
    WebSocketPingInterval: ['0', false],
    SecurityProfile: [String(connectionProfile(opts, opts.password)), false],
  }).map(([key, [value, readonly]]) => [key, { value, readonly }]),
);
// AuthorizationKey is write-only (security whitepaper): never reported by GetConfiguration.
let authorizationKey;
// Security extension: root certificates the central system installed (InstallCertificate).
const installedCertificates = [];

const state = {
  energyWh: opts.meterStart,
  transactionId: undefined,
  transactionStart: undefined,
  localListVersion: 0,
  profiles: [], // installed charging profiles: {connectorId, profile, installedAt}
  stopRequested: undefined, // set by RemoteStopTransaction / Reset
  lastProfileAt: 0, // time of the last SetChargingProfile
  lastSampleAt: Date.now(), // time of the last MeterValues sample
};

// The limit in force now, in A per phase (OCPP 1.6 3.13.2: per purpose the highest valid stack level
// wins; the composite is the minimum of ChargePointMaxProfile and TxProfile-else-TxDefaultProfile).
function profileStart(entry) {
  const schedule = entry.profile.chargingSchedule;
  if (schedule.startSchedule) return Date.parse(schedule.startSchedule);
  if (entry.profile.chargingProfileKind === 'Relative' && state.transactionStart) return state.transactionStart;
  if (entry.profile.validFrom) return Date.parse(entry.profile.validFrom);
  return entry.installedAt;
}

function periodLimitA(entry, at) {
  const { profile } = entry;
  const schedule = profile.chargingSchedule;
  if (profile.validFrom && at < Date.parse(profile.validFrom)) return undefined;
  if (profile.validTo && at >= Date.parse(profile.validTo)) return undefined;
  const active = activePeriod(schedule, profileStart(entry), at);
  if (!active) return undefined;
  return toAmps(active.limit, schedule.chargingRateUnit, active.numberPhases, VOLTAGE);
}

function winningLimit(purpose, at, connectorIds) {
  const candidates = state.profiles
    .filter((e) => e.profile.chargingProfilePurpose === purpose && connectorIds.includes(e.connectorId))
    .filter((e) => purpose !== 'TxProfile' || e.profile.transactionId === undefined || e.profile.transactionId === state.transactionId)
    .map((e) => ({ level: e.profile.stackLevel, limit: periodLimitA(e, at) }))
    .filter((c) => c.limit !== undefined)
    .sort((a, b) => b.level - a.level);
  return candidates.length ? candidates[0].limit : undefined;
}

function compositeLimitA(at = Date.now()) {
  const max = winningLimit('ChargePointMaxProfile', at, [0]);
  const tx = state.transactionId !== undefined ? winningLimit('TxProfile', at, [0, CONNECTOR]) : undefined;
  const txDefault = winningLimit('TxDefaultProfile', at, [0, CONNECTOR]);
  const live = tx ?? txDefault;
  const limits = [HARDWARE_MAX_A, max, live].filter((x) => x !== undefined);
  return round1(Math.min(...limits));
}

function installProfile(connectorId, profile) {
  // Same id, or same purpose + stack level (+ connector), replaces (OCPP 1.6 3.13.2).
  state.profiles = state.profiles.filter(
    (e) =>
      e.profile.chargingProfileId !== profile.chargingProfileId &&
      !(
        e.profile.chargingProfilePurpose === profile.chargingProfilePurpose &&
        e.profile.stackLevel === profile.stackLevel &&
        e.connectorId === connectorId
      ),
  );
  state.profiles.push({ connectorId, profile, installedAt: Date.now() });
}

function firstLimit(profile) {
  const period = profile.chargingSchedule.chargingSchedulePeriod[0];
  return { limit: period?.limit, unit: profile.chargingSchedule.chargingRateUnit, numberPhases: period?.numberPhases };
}

// -------------------------------------------------------------------------------- meter values
function chargingCurrentA() {
  if (state.transactionId === undefined) return 0;
  const offered = compositeLimitA();
  return offered < 6 ? 0 : Math.min(offered, CAR_MAX_A); // IEC 61851: below 6 A the car pauses
}

function sampledValues(context) {
  const currentA = chargingCurrentA();
  const powerW = Math.round(VOLTAGE * currentA * 3);
  const sv = (value, measurand, unit, extra = {}) => ({
    value: String(value),
    context,
    format: 'Raw',
    measurand,
    location: 'Outlet',
    unit,
    ...extra,
  });
  return {
    powerW,
    currentA,
    values: [
      sv(Math.round(state.energyWh), 'Energy.Active.Import.Register', 'Wh'),
      sv(powerW, 'Power.Active.Import', 'W'),
      ...['L1', 'L2', 'L3'].map((phase) => sv(round1(currentA), 'Current.Import', 'A', { phase })),
      sv(compositeLimitA(), 'Current.Offered', 'A'),
      ...['L1-N', 'L2-N', 'L3-N'].map((phase) => sv(VOLTAGE, 'Voltage', 'V', { phase })),
      sv(31.5, 'Temperature', 'Celsius', { location: 'Body' }),
    ],
  };
}

async function sendMeterValues(cli, context = 'Sample.Periodic') {
  // Energy advances by the charging time since the previous sample (or `simSeconds`: time lapse).
  const { powerW, currentA, values } = sampledValues(context);
  const sampleAt = Date.now();
  const seconds = opts.simSeconds ?? (sampleAt - state.lastSampleAt) / 1000;
  state.lastSampleAt = sampleAt;
  state.energyWh += (powerW * seconds) / 3600;
  const { values: after } = sampledValues(context);
  const params = { connectorId: CONNECTOR, meterValue: [{ timestamp: now(), sampledValue: after }] };
  if (state.transactionId !== undefined) params.transactionId = state.transactionId;
  await cli.call('MeterValues', params);
  emit('meter_values', {
    energy_wh: Math.round(state.energyWh),
    power_w: powerW,
    current_a: currentA,
    offered_a: compositeLimitA(),
    transaction_id: state.transactionId,
    samples: values.length,
  });
}

// ------------------------------------------------------------------------ incoming call handlers
let limitWaiter; // resolve() of the "wait for a limit change" promise
let bootWaiter; // resolve() when TriggerMessage(BootNotification) arrives while Pending

function registerHandlers(cli) {
  const received = (method, params, extra = {}) => emit('received', { action: method, params, ...extra });

  cli.handle('GetConfiguration', ({ params }) => {
    received('GetConfiguration', params);
    const wanted = params.key && params.key.length ? params.key : [...config.keys()];
    const configurationKey = [];
    const unknownKey = [];
    for (const key of wanted) {
      const entry = config.get(key);
      if (entry) configurationKey.push({ key, readonly: entry.readonly, value: entry.value });
      else unknownKey.push(key);
    }
    return unknownKey.length ? { configurationKey, unknownKey } : { configurationKey };
  });

  cli.handle('ChangeConfiguration', ({ params }) => {
    const { key, value } = params;
    if (key === 'AuthorizationKey') {
      // Write-only: report that it arrived, never its value.
      received('ChangeConfiguration', { key }, { authorization_key_length: value.length });
      // The 1.6 whitepaper: the key is hex; the Basic-auth password is the decoded bytes.
      authorizationKey = /^([0-9a-fA-F]{2})+$/.test(value) ? Buffer.from(value, 'hex') : Buffer.from(value);
      // Already on Basic auth or TLS (profile 1 or 2): come back with the new key at once. At
      // profile 0 the key waits for SecurityProfile 1.
      const profile = Number(config.get('SecurityProfile').value);
      if (profile === 1 || profile === 2) later(() => reconnectWithPassword(cli, 'authorization_key'));
      return { status: 'Accepted' };
    }
    received('ChangeConfiguration', params);
    const entry = config.get(key);
    if (!entry) return { status: 'NotSupported' };
    if (entry.readonly) return { status: 'Rejected' };
    if (key === 'SecurityProfile') {
      // Never down (1.6 security whitepaper: a lower security profile is rejected).
      if (Number(value) < Number(entry.value)) {
        emit('downgrade_refused', { from: Number(entry.value), to: Number(value) });
        return { status: 'Rejected' };
      }
      if (value === '1' && authorizationKey) {
        entry.value = value;
        // Move to Basic auth: reconnect with the new password once this answer is out.
        later(() => reconnectWithPassword(cli));
        return { status: 'Accepted' };
      }
      return { status: 'Rejected' };
    }
    entry.value = value;
    return { status: 'Accepted' };
  });

  cli.handle('SetChargingProfile', ({ params }) => {
    const { connectorId, csChargingProfiles: profile } = params;
    if (profile.chargingProfilePurpose === 'ChargePointMaxProfile' && connectorId !== 0) {
      received('SetChargingProfile', params, { status: 'Rejected' });
      return { status: 'Rejected' };
    }
    if (profile.chargingProfilePurpose === 'TxProfile' && state.transactionId === undefined) {
      received('SetChargingProfile', params, { status: 'Rejected' });
      return { status: 'Rejected' };
    }
    installProfile(connectorId, profile);
    state.lastProfileAt = Date.now();
    const { limit, unit, numberPhases } = firstLimit(profile);
    received('SetChargingProfile', params, {
      status: 'Accepted',
      purpose: profile.chargingProfilePurpose,
      stack_level: profile.stackLevel,
      limit,
      unit,
      number_phases: numberPhases,
      composite_a: compositeLimitA(),
    });
    if (limitWaiter) limitWaiter();
    return { status: 'Accepted' };
  });

  cli.handle('ClearChargingProfile', ({ params }) => {
    const before = state.profiles.length;
    state.profiles = state.profiles.filter(
      (e) =>
        !(
          (params.id === undefined || e.profile.chargingProfileId === params.id) &&
          (params.connectorId === undefined || e.connectorId === params.connectorId) &&
          (params.chargingProfilePurpose === undefined || e.profile.chargingProfilePurpose === params.chargingProfilePurpose) &&
          (params.stackLevel === undefined || e.profile.stackLevel === params.stackLevel)
        ),
    );
    const status = state.profiles.length < before ? 'Accepted' : 'Unknown';
    received('ClearChargingProfile', params, { status, composite_a: compositeLimitA() });
    if (limitWaiter) limitWaiter();
    return { status };
  });

  cli.handle('GetCompositeSchedule', ({ params }) => {
    const limitA = compositeLimitA();
    received('GetCompositeSchedule', params, { composite_a: limitA });
    const unit = params.chargingRateUnit ?? 'A';
    const limit = unit === 'W' ? Math.round(limitA * VOLTAGE * 3) : limitA;
    return {
      status: 'Accepted',
      connectorId: params.connectorId,
      scheduleStart: now(),
      chargingSchedule: {
        duration: params.duration,
        startSchedule: now(),
        chargingRateUnit: unit,
        chargingSchedulePeriod: [{ startPeriod: 0, limit }],
      },
    };
  });

  cli.handle('TriggerMessage', ({ params }) => {
    received('TriggerMessage', params);
    const connectorId = params.connectorId ?? CONNECTOR;
    const send = {
      BootNotification: async () => {
        if (bootWaiter) bootWaiter();
        else if (!booting && !reconnecting) await boot(cli);
      },
      Heartbeat: async () => cli.call('Heartbeat', {}),
      StatusNotification: async () => cli.call('StatusNotification', statusParams(connectorId, currentStatus())),
      MeterValues: async () => sendMeterValues(cli, 'Trigger'),
      DiagnosticsStatusNotification: async () => cli.call('DiagnosticsStatusNotification', { status: 'Idle' }),
      FirmwareStatusNotification: async () => cli.call('FirmwareStatusNotification', { status: 'Idle' }),
    }[params.requestedMessage];
    later(send);
    return { status: 'Accepted' };
  });

  cli.handle('RemoteStopTransaction', ({ params }) => {
    const accepted = state.transactionId !== undefined && params.transactionId === state.transactionId;
    received('RemoteStopTransaction', params, { status: accepted ? 'Accepted' : 'Rejected' });
    if (accepted) {
      state.stopRequested = 'Remote';
      if (limitWaiter) limitWaiter();
    }
    return { status: accepted ? 'Accepted' : 'Rejected' };
  });

  cli.handle('RemoteStartTransaction', ({ params }) => {
    // This scripted session starts its own transaction; a remote start is acknowledged and reported.
    const status = state.transactionId === undefined ? 'Accepted' : 'Rejected';
    received('RemoteStartTransaction', params, { status });
    return { status };
  });

  cli.handle('Reset', ({ params }) => {
    received('Reset', params);
    return { status: 'Accepted' };
  });
  cli.handle('UnlockConnector', ({ params }) => {
    received('UnlockConnector', params);
    return { status: state.transactionId === undefined ? 'Unlocked' : 'UnlockFailed' };
  });
  cli.handle('ChangeAvailability', ({ params }) => {
    received('ChangeAvailability', params);
    return { status: state.transactionId === undefined ? 'Accepted' : 'Scheduled' };
  });
  cli.handle('ClearCache', ({ params }) => {
    received('ClearCache', params);
    return { status: 'Accepted' };
  });
  cli.handle('DataTransfer', ({ params }) => {
    received('DataTransfer', params);
    return { status: 'Accepted', data: JSON.stringify({ echo: params.data ?? null }) };
  });
  cli.handle('GetLocalListVersion', ({ params }) => {
    received('GetLocalListVersion', params);
    return { listVersion: state.localListVersion };
  });
  cli.handle('SendLocalList', ({ params }) => {
    received('SendLocalList', { listVersion: params.listVersion, updateType: params.updateType, entries: (params.localAuthorizationList ?? []).length });
    state.localListVersion = params.listVersion;
    return { status: 'Accepted' };
  });
  cli.handle('ReserveNow', ({ params }) => {
    received('ReserveNow', params);
    return { status: state.transactionId === undefined ? 'Accepted' : 'Occupied' };
  });
  cli.handle('CancelReservation', ({ params }) => {
    received('CancelReservation', params);
    return { status: 'Accepted' };
  });
  cli.handle('UpdateFirmware', ({ params }) => {
    received('UpdateFirmware', params);
    later(async () => cli.call('FirmwareStatusNotification', { status: 'Downloading' }));
    return {};
  });
  cli.handle('GetDiagnostics', ({ params }) => {
    received('GetDiagnostics', params);
    later(async () => cli.call('DiagnosticsStatusNotification', { status: 'Uploading' }));
    return { fileName: 'diagnostics.log' };
  });

  // --- 1.6 security extension (security whitepaper): the certificate of security profile 3 ---
  cli.handle('CertificateSigned', ({ params }) => {
    const chain = params.certificateChain;
    const ok = Boolean(opts.csrFile && opts.certFile) && chain.includes('BEGIN CERTIFICATE');
    received('CertificateSigned', { certificates: (chain.match(/BEGIN CERTIFICATE/g) ?? []).length }, { status: ok ? 'Accepted' : 'Rejected' });
    if (!ok) return { status: 'Rejected' };
    storeCertificate(opts, chain);
    emit('certificate_signed', { chain_length: chain.length });
    // Answer first, then use the certificate: drop the connection, come back with it (without
    // Basic auth) and boot, as after a change of SecurityProfile.
    later(async () => {
      await reconnect(cli, 'certificate_signed', { password: undefined });
      if (!booting) await boot(cli);
      reconnected?.();
    });
    return { status: 'Accepted' };
  });
  cli.handle('InstallCertificate', ({ params }) => {
    installedCertificates.push(params);
    received('InstallCertificate', { certificateType: params.certificateType }, { status: 'Accepted' });
    return { status: 'Accepted' };
  });
  cli.handle('ExtendedTriggerMessage', ({ params }) => {
    const send = {
      BootNotification: async () => {
        if (bootWaiter) bootWaiter();
        else if (!booting && !reconnecting) await boot(cli);
      },
      Heartbeat: async () => cli.call('Heartbeat', {}),
      StatusNotification: async () => cli.call('StatusNotification', statusParams(params.connectorId ?? CONNECTOR, currentStatus())),
      MeterValues: async () => sendMeterValues(cli, 'Trigger'),
      SignChargePointCertificate: opts.csrFile ? async () => signCertificate(cli) : undefined,
    }[params.requestedMessage];
    const status = send ? 'Accepted' : 'Rejected';
    received('ExtendedTriggerMessage', params, { status });
    if (send) later(send);
    return { status };
  });

  cli.handle(({ method, params }) => {
    received(method, params, { status: 'NotImplemented' });
    const err = new Error(`${method} not implemented by the test charger`);
    err.rpcErrorCode = 'NotImplemented';
    throw err;
  });
}

// ----------------------------------------------------------------------------------- the session
let status = 'Available';
const currentStatus = () => status;
const statusParams = (connectorId, s) => ({ connectorId, errorCode: 'NoError', status: s, timestamp: now() });

async function setStatus(cli, s) {
  status = s;
  await cli.call('StatusNotification', statusParams(CONNECTOR, s));
  emit('status', { status: s });
}

let reconnecting; // a promise while we reconnect with a new password
let booting = false;

let password = opts.password;

// The connection as it stands now: Basic auth with `password` (if any), TLS as the options and the
// certificate file say.
function connectionLine() {
  const profile = connectionProfile(opts, password);
  config.get('SecurityProfile').value = String(profile);
  return {
    protocol: cli.protocol,
    identity: opts.identity,
    basic_auth: Boolean(password),
    tls: opts.url.startsWith('wss://'),
    client_certificate: hasClientCertificate(opts),
    security_profile: profile,
  };
}

async function openConnection(cli) {
  try {
    await cli.connect();
  } catch (err) {
    emit('connect_failed', connectError(err));
    throw fail(`connection failed: ${err?.message ?? err}`, 6);
  }
  emit('connected', connectionLine());
}

// Drop the connection and come back with new credentials (`password`; TLS options re-read, so a
// certificate written meanwhile is used).
async function reconnect(cli, reason, credentials) {
  reconnecting = (async () => {
    emit('reconnect', { reason });
    await cli.close({ code: 1000, reason });
    ({ password } = credentials);
    cli.reconfigure({ password, wsOpts: wsOptions(opts) });
    await openConnection(cli);
  })();
  try {
    await reconnecting;
  } finally {
    reconnecting = undefined;
  }
}
let reconnected; // resolve() of the main flow's wait for the certificate (reconnected and booted)

async function reconnectWithPassword(cli, reason = 'security_profile_1') {
  // As a real charger does after SecurityProfile 0 -> 1 (or a new AuthorizationKey): drop the
  // connection, come back with Basic auth (username = identity, password = AuthorizationKey bytes)
  // and boot again.
  await reconnect(cli, reason, { password: authorizationKey });
  if (bootWaiter) bootWaiter(); // the main flow is waiting in its boot loop: it boots again
  else if (!booting) await boot(cli);
}

// Security profile 3 (security whitepaper, "Installation of a Charge Point certificate"): send the
// CSR; the central system signs it and sends CertificateSigned (handled above: the certificate is
// written and the charger reconnects with it, without Basic auth).
async function signCertificate(cli) {
  const csr = readFileSync(opts.csrFile, 'utf8');
  const res = await cli.call('SignCertificate', { csr });
  emit('sign_certificate', { status: res.status });
  if (res.status !== 'Accepted') throw fail('SignCertificate not accepted', 7);
}

async function certificateRound(cli) {
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(fail(`no CertificateSigned within ${opts.certTimeoutMs} ms`, 7)),
      opts.certTimeoutMs,
    );
    reconnected = () => {
      clearTimeout(timer);
      reconnected = undefined;
      resolve();
    };
  });
  await signCertificate(cli);
  await done;
}

async function bootCall(cli, params) {
  // A boot racing a reconnect is retried once the new connection is open.
  for (;;) {
    if (reconnecting) await reconnecting;
    try {
      return await cli.call('BootNotification', params);
    } catch (err) {
      if (!reconnecting) throw err;
    }
  }
}

async function boot(cli) {
  booting = true;
  try {
    return await bootLoop(cli);
  } finally {
    booting = false;
  }
}

async function bootLoop(cli) {
  // Retry while Pending: after `interval` seconds (capped) or at once when the server triggers a boot.
  for (let attempt = 1; attempt <= 50; attempt++) {
    const res = await bootCall(cli, {
      chargePointVendor: 'ocpp-rpc',
      chargePointModel: 'StrictSim',
      chargePointSerialNumber: 'JS-0001',
      firmwareVersion: '2.2.1-sim',
      meterType: 'SimMeter',
    });
    emit('boot', { status: res.status, interval: res.interval, attempt });
    if (res.status === 'Accepted') {
      if (res.interval > 0) config.get('HeartbeatInterval').value = String(res.interval);
      return res;
    }
    const waitMs = Math.min(Math.max(res.interval, 1), 5) * 1000;
    await new Promise((resolve) => {
      bootWaiter = resolve;
      setTimeout(resolve, waitMs);
    });
    bootWaiter = undefined;
  }
  throw new Error('BootNotification never Accepted');
}

function waitForLimitChange(cli, sinceMs) {
  // Keep metering while waiting; resolve once a new profile gives the expected composite (or any new
  // profile when no value is expected), or a remote stop arrives.
  return new Promise((resolve, reject) => {
    const done = () => {
      const composite = compositeLimitA();
      const expected = opts.expectLimit;
      const matches = expected === undefined ? state.lastProfileAt > sinceMs : Math.abs(composite - expected) < 0.05;
      if (matches || state.stopRequested) {
        clearTimeout(timer);
        clearInterval(meter);
        limitWaiter = undefined;
        resolve(composite);
      }
    };
    const timer = setTimeout(() => {
      clearInterval(meter);
      limitWaiter = undefined;
      reject(new Error(`no limit change within ${opts.limitTimeoutMs} ms (composite ${compositeLimitA()} A)`));
    }, opts.limitTimeoutMs);
    const meter = setInterval(() => {
      sendMeterValues(cli).catch((err) => emit('error', { where: 'meter', message: String(err) }));
    }, Math.max(opts.meterIntervalMs, 500));
    limitWaiter = done;
    done();
  });
}

let cli;

async function main() {
  cli = new RPCClient({
    endpoint: opts.endpoint,
    identity: opts.identity,
    protocols: ['ocpp1.6'],
    strictMode: true,
    password,
    reconnect: false,
    callTimeoutMs: 20000,
    wsOpts: wsOptions(opts),
  });
  watchWire(cli, wire);
  registerHandlers(cli);

  await openConnection(cli);

  await boot(cli);
  if (opts.csrFile && !hasClientCertificate(opts)) await certificateRound(cli);
  const hb = await cli.call('Heartbeat', {});
  emit('heartbeat', { current_time: hb.currentTime });
  await cli.call('StatusNotification', statusParams(0, 'Available'));
  await setStatus(cli, 'Available');
  await sleep(opts.settleMs);

  await setStatus(cli, 'Preparing'); // cable plugged in
  const auth = await cli.call('Authorize', { idTag: opts.idTag });
  emit('authorize', { id_tag: opts.idTag, status: auth.idTagInfo.status });
  if (auth.idTagInfo.status !== 'Accepted') throw fail('id tag not accepted', 3);

  const meterStart = Math.round(state.energyWh);
  const start = await cli.call('StartTransaction', {
    connectorId: CONNECTOR,
    idTag: opts.idTag,
    meterStart,
    timestamp: now(),
  });
  state.transactionId = start.transactionId;
  state.transactionStart = Date.now();
  emit('start_transaction', { transaction_id: start.transactionId, status: start.idTagInfo.status, meter_start_wh: meterStart });
  if (start.idTagInfo.status !== 'Accepted') throw fail('transaction not accepted', 3);
  await setStatus(cli, 'Charging');

  for (let i = 0; i < opts.meterCount; i++) {
    await sendMeterValues(cli);
    await sleep(opts.meterIntervalMs);
  }

  const since = Date.now();
  emit('waiting_for_limit', { offered_a: compositeLimitA(), expect_limit_a: opts.expectLimit ?? null });
  let composite;
  try {
    composite = await waitForLimitChange(cli, since);
  } catch (err) {
    throw Object.assign(err, { exitCode: 2 });
  }
  if (!state.stopRequested) {
    emit('limit_changed', { offered_a: composite });
    await sendMeterValues(cli); // report the new Current.Offered so the server can verify it
    if (opts.holdMs > 0) await sleep(opts.holdMs);
  }

  const meterStop = Math.round(state.energyWh);
  const stopParams = {
    transactionId: state.transactionId,
    idTag: opts.idTag,
    meterStop,
    timestamp: now(),
    reason: state.stopRequested ?? 'Local',
    transactionData: [{ timestamp: now(), sampledValue: sampledValues('Transaction.End').values.slice(0, 1) }],
  };
  const stop = await cli.call('StopTransaction', stopParams);
  emit('stop_transaction', {
    transaction_id: state.transactionId,
    meter_stop_wh: meterStop,
    energy_wh: meterStop - meterStart,
    reason: stopParams.reason,
    status: stop.idTagInfo?.status ?? null,
  });
  state.transactionId = undefined;
  await setStatus(cli, 'Finishing');
  await setStatus(cli, 'Available');

  await cli.close({ code: 1000, reason: 'session done' });
  emit('done', { strict_failures: wire.strict });
  return wire.strict ? 4 : 0;
}

runMain(main);
