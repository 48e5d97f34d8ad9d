#!/usr/bin/env node
// Self-check of station201.mjs without our Python CSMS: a minimal CSMS built on ocpp-rpc's
// RPCServer in STRICT mode (127.0.0.1, a free port) drives one station through onboarding, the
// device-model read, a whole session, smart charging, remote control, availability, local list,
// reservations, logs, firmware and reset. Both ends validate every frame against the OCPP JSON
// schemas, so a pass proves the station's own frames are schema-valid, and the checks below prove
// it behaves as the spec says (statuses, sequences, reconnect with the provisioned password).
//
// Usage: node selfcheck201.mjs [--ocpp 2.0.1|2.1] [--verbose]
// Prints the station's lines with --verbose, then one `selfcheck` line: {ok, checks, failures}.
// Exit code 0 when every check passed.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

import { RPCServer } from 'ocpp-rpc';

import { emit, now, parseOptions, sleep } from './common.mjs';
import { OCPP201, OCPP21, strictValidators } from './ocpp2/validators.mjs';

const args = process.argv.slice(2);
const opts = parseOptions(args, { url: 'ws://127.0.0.1/ocpp/SELF-1', ocpp: '2.0.1', verbose: false }, {
  strings: { '--ocpp': 'ocpp' },
  flags: { '--verbose': 'verbose' },
}, 'node selfcheck201.mjs [--ocpp 2.0.1|2.1] [--verbose]');
const PROTOCOL = `ocpp${opts.ocpp}`;
const STATION_ID = 'SELF-1';
const PASSWORD = 'selfcheck-Pa55word-0123456789'; // 29 printable characters (16..40)
const ID_TOKEN = '04A1B2C3D4E5F6';
const WAIT_MS = 15000;

// -------------------------------------------------------------------------------------- checks
let checks = 0;
const failures = [];
function check(condition, what, detail) {
  checks++;
  if (!condition) failures.push({ what, detail: detail ?? null });
  return condition;
}

async function until(what, predicate) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

// ------------------------------------------------------------------------------------ the CSMS
const inbox = []; // every call from the station: {method, params, index}
const clients = [];
let client; // the current connection
let strictFailures = 0;

const server = new RPCServer({
  protocols: [OCPP21, OCPP201],
  strictMode: true,
  strictModeValidators: strictValidators([OCPP21]),
  callTimeoutMs: 10000,
});
server.auth((accept, reject, handshake) => {
  // Unknown stations may connect without a password (onboarding); a provisioned one must use it.
  const password = handshake.password?.toString('utf8');
  if (provisioned && password !== PASSWORD) return reject(401, 'wrong password');
  return accept({ password });
});

let provisioned = false;
server.on('client', (c) => {
  clients.push(c);
  client = c;
  c.on('strictValidationFailure', (event) => {
    strictFailures++;
    emit('csms_strict_validation_failure', { method: event.method, outbound: event.outbound, error: String(event.error?.message ?? event.error) });
  });
  const record = (method, params) => inbox.push({ method, params, index: inbox.length, client: c });
  const answers = {
    BootNotification: () => ({
      currentTime: now(),
      interval: c.session.password === PASSWORD ? 300 : 2,
      status: c.session.password === PASSWORD ? 'Accepted' : 'Pending',
    }),
    Heartbeat: () => ({ currentTime: now() }),
    Authorize: ({ idToken }) => ({ idTokenInfo: { status: idToken.idToken === 'BLOCKED' ? 'Blocked' : 'Accepted' } }),
    TransactionEvent: ({ idToken }) => (idToken ? { idTokenInfo: { status: 'Accepted' } } : {}),
  };
  c.handle(({ method, params }) => {
    record(method, params);
    return answers[method]?.(params) ?? {};
  });
});

const since = () => inbox.length;
function next(method, predicate = () => true, from = 0) {
  return until(`${method} from the station`, () => inbox.find((m) => m.index >= from && m.method === method && predicate(m.params)));
}
const call = (method, params) => client.call(method, params);

// --------------------------------------------------------------------------------- the station
const lines = [];
function startStation(url, extra) {
  const script = fileURLToPath(new URL('./station201.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, url, '--ocpp', opts.ocpp, '--id-token', ID_TOKEN, ...extra], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  createInterface({ input: child.stdout }).on('line', (raw) => {
    const line = JSON.parse(raw);
    lines.push(line);
    if (opts.verbose) process.stdout.write(raw + '\n');
  });
  child.exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  return child;
}
const step = (name, predicate = () => true) => until(`station step ${name}`, () => lines.find((l) => l.step === name && predicate(l)));
const steps = (name) => lines.filter((l) => l.step === name);

// ---------------------------------------------------------------------------------- scenario
const startSchedule = () => new Date(Date.now() - 60000).toISOString();
const profile = (id, purpose, stackLevel, limit, unit = 'A', extra = {}) => ({
  id,
  stackLevel,
  chargingProfilePurpose: purpose,
  chargingProfileKind: 'Absolute',
  chargingSchedule: [{ id, startSchedule: startSchedule(), chargingRateUnit: unit, chargingSchedulePeriod: [{ startPeriod: 0, limit }] }],
  ...extra,
});

async function onboarding() {
  const boot = await next('BootNotification');
  check(boot.client.session.password === undefined, 'first connection without a password');
  check(boot.params.reason === 'PowerUp', 'boot reason PowerUp', boot.params.reason);

  // B02: no transactions while Pending; the station answers SecurityError (and reports it).
  const err = await call('RequestStartTransaction', { idToken: { idToken: 'X', type: 'Central' }, remoteStartId: 1 }).catch((e) => e);
  check(err?.rpcErrorCode === 'SecurityError', 'RequestStartTransaction while Pending -> SecurityError', err?.rpcErrorCode);

  // B07: the device model in several NotifyReport parts (tbc/seqNo).
  const from = since();
  const report = await call('GetBaseReport', { requestId: 1, reportBase: 'FullInventory' });
  check(report.status === 'Accepted', 'GetBaseReport Accepted');
  const last = await next('NotifyReport', (p) => p.requestId === 1 && !p.tbc, from);
  const parts = inbox.filter((m) => m.index >= from && m.method === 'NotifyReport' && m.params.requestId === 1);
  check(parts.length > 2 && last === parts[parts.length - 1], 'report split over several messages, last one tbc false', parts.length);
  check(parts.every((m, i) => m.params.seqNo === i), 'NotifyReport seqNo 0..n-1');
  const data = parts.flatMap((m) => m.params.reportData);
  const find = (c, v, inst) => data.find((d) => d.component.name === c && d.variable.name === v && d.variable.instance === inst);
  check(find('SmartChargingCtrlr', 'RateUnit')?.variableAttribute[0].value === 'A,W', 'RateUnit A,W reported');
  check(find('SmartChargingCtrlr', 'ProfileStackLevel')?.variableAttribute[0].value === '8', 'ProfileStackLevel reported');
  check(find('DeviceDataCtrlr', 'ItemsPerMessage', 'GetReport') !== undefined, 'ItemsPerMessage[GetReport] reported');
  check(data.some((d) => d.component.name === 'Connector' && d.component.evse?.id === 1 && d.component.evse?.connectorId === 1), 'EVSE 1 connector 1 reported');
  const secret = find('SecurityCtrlr', 'BasicAuthPassword');
  check(secret && secret.variableAttribute[0].value === undefined, 'BasicAuthPassword listed without its value');
  check(parts.every((m) => m.params.reportData.length <= 10), 'at most ItemsPerMessage items per part');

  // B06: GetVariables statuses.
  const got = await call('GetVariables', {
    getVariableData: [
      { component: { name: 'SmartChargingCtrlr' }, variable: { name: 'PeriodsPerSchedule' } },
      { component: { name: 'SecurityCtrlr' }, variable: { name: 'BasicAuthPassword' } },
      { component: { name: 'NoSuchCtrlr' }, variable: { name: 'X' } },
      { component: { name: 'AuthCtrlr' }, variable: { name: 'NoSuchVariable' } },
      { component: { name: 'EVSE', evse: { id: 1 } }, variable: { name: 'Power' }, attributeType: 'MaxSet' },
    ],
  });
  const statuses = got.getVariableResult.map((r) => r.attributeStatus);
  check(
    JSON.stringify(statuses) === JSON.stringify(['Accepted', 'Rejected', 'UnknownComponent', 'UnknownVariable', 'Accepted']),
    'GetVariables statuses',
    statuses,
  );
  check(got.getVariableResult[4].attributeValue === '22080', 'EVSE.Power MaxSet 22080 W');

  // A01: the password (and SecurityProfile, ReadOnly in 2.0.1), then the reconnect with it.
  provisioned = true;
  const set = await call('SetVariables', {
    setVariableData: [
      { component: { name: 'SecurityCtrlr' }, variable: { name: 'BasicAuthPassword' }, attributeValue: PASSWORD },
      { component: { name: 'SecurityCtrlr' }, variable: { name: 'SecurityProfile' }, attributeValue: '1' },
    ],
  });
  check(set.setVariableResult[0].attributeStatus === 'Accepted', 'BasicAuthPassword Accepted');
  check(set.setVariableResult[1].attributeStatus === 'Rejected', 'SecurityProfile (ReadOnly) Rejected');
  const accepted = await next('BootNotification', () => true, from);
  await until('a boot on the password connection', () => inbox.find((m) => m.method === 'BootNotification' && m.client.session.password === PASSWORD));
  check(accepted !== undefined, 'boot again');
  await step('boot', (l) => l.status === 'Accepted');
  check(clients.length >= 2 && clients[clients.length - 1].session.password === PASSWORD, 'reconnected with the provisioned password');
  await next('StatusNotification', (p) => p.connectorStatus === 'Available');
}

async function session() {
  // Configure sampling; Temperature is not a 2.0.1 measurand, so it is not in the valuesList.
  const set = await call('SetVariables', {
    setVariableData: [
      { component: { name: 'SampledDataCtrlr' }, variable: { name: 'TxUpdatedMeasurands' }, attributeValue: 'Energy.Active.Import.Register,Temperature' },
      { component: { name: 'SampledDataCtrlr' }, variable: { name: 'TxUpdatedInterval' }, attributeValue: '10' },
      { component: { name: 'SampledDataCtrlr' }, variable: { name: 'TxUpdatedInterval' }, attributeValue: 'ten' },
    ],
  });
  const results = set.setVariableResult.map((r) => [r.attributeStatus, r.attributeStatusInfo?.reasonCode]);
  check(JSON.stringify(results) === JSON.stringify([['Rejected', 'ValueNotInList'], ['Accepted', undefined], ['Rejected', 'InvalidValue']]), 'SetVariables value checks', results);

  check((await call('SetChargingProfile', { evseId: 0, chargingProfile: profile(1, 'ChargingStationMaxProfile', 0, 32) })).status === 'Accepted', 'max profile');
  check((await call('SetChargingProfile', { evseId: 0, chargingProfile: profile(2, 'TxDefaultProfile', 0, 16) })).status === 'Accepted', 'base profile');
  const bad = await call('SetChargingProfile', { evseId: 1, chargingProfile: profile(9, 'ChargingStationMaxProfile', 0, 20) });
  check(bad.status === 'Rejected' && bad.statusInfo?.reasonCode === 'InvalidEvseId', 'max profile on EVSE 1 rejected', bad);

  const started = await next('TransactionEvent', (p) => p.eventType === 'Started');
  const txId = started.params.transactionInfo.transactionId;
  check(started.params.triggerReason === 'CablePluggedIn' && started.params.seqNo === 0, 'Started at plug-in, seqNo 0');
  check(started.params.evse?.id === 1 && started.params.evse?.connectorId === 1, 'Started names EVSE 1 connector 1');
  await next('Authorize');
  await next('TransactionEvent', (p) => p.triggerReason === 'Authorized' && p.idToken?.idToken === ID_TOKEN);
  await next('TransactionEvent', (p) => p.transactionInfo.chargingState === 'Charging');
  await step('waiting_for_limit');

  const wrongTx = await call('SetChargingProfile', { evseId: 1, chargingProfile: profile(4, 'TxProfile', 1, 10, 'A', { transactionId: 'nope' }) });
  check(wrongTx.statusInfo?.reasonCode === 'TxNotFound', 'TxProfile for another transaction rejected', wrongTx);
  const tooHigh = await call('SetChargingProfile', { evseId: 1, chargingProfile: profile(4, 'TxProfile', 99, 10, 'A', { transactionId: txId }) });
  check(tooHigh.statusInfo?.reasonCode === 'InvalidStackLevel', 'stack level above ProfileStackLevel rejected', tooHigh);

  if (PROTOCOL === OCPP21) {
    // 2.1: a Dynamic profile, then its setpoint moves without a new profile.
    const dynamic = {
      id: 5,
      stackLevel: 2,
      chargingProfilePurpose: 'TxDefaultProfile',
      chargingProfileKind: 'Dynamic',
      chargingSchedule: [{ id: 5, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 16 }] }],
    };
    check((await call('SetChargingProfile', { evseId: 1, chargingProfile: dynamic })).status === 'Accepted', 'Dynamic profile Accepted');
    const update = await call('UpdateDynamicSchedule', { chargingProfileId: 5, scheduleUpdate: { limit: 10 } });
    check(update.status === 'Accepted', 'UpdateDynamicSchedule Accepted');
  } else {
    // 10 A as W on three phases.
    const tx = await call('SetChargingProfile', { evseId: 1, chargingProfile: profile(4, 'TxProfile', 1, 6900, 'W', { transactionId: txId }) });
    check(tx.status === 'Accepted', 'TxProfile in W Accepted', tx);
  }
  const composite = await call('GetCompositeSchedule', { evseId: 1, duration: 300, chargingRateUnit: 'A' });
  check(composite.status === 'Accepted' && composite.schedule.chargingSchedulePeriod[0].limit === 10, 'composite 10 A', composite);
  const compositeW = await call('GetCompositeSchedule', { evseId: 1, duration: 300, chargingRateUnit: 'W' });
  check(compositeW.schedule?.chargingSchedulePeriod[0].limit === 6900, 'composite 6900 W', compositeW);
  await step('limit_changed', (l) => l.offered_a === 10);
  const offered = await next('TransactionEvent', (p) =>
    p.meterValue?.[0].sampledValue.some((v) => v.measurand === 'Current.Import' && v.value === 10),
  );
  check(offered.params.meterValue[0].sampledValue.every((v) => typeof v.value === 'number'), 'sampled values are numbers');

  const stop = await call('RequestStopTransaction', { transactionId: txId });
  check(stop.status === 'Accepted', 'RequestStopTransaction Accepted');
  const ended = await next('TransactionEvent', (p) => p.eventType === 'Ended');
  check(ended.params.transactionInfo.stoppedReason === 'Remote' && ended.params.triggerReason === 'RemoteStop', 'Ended Remote');
  const events = inbox.filter((m) => m.method === 'TransactionEvent' && m.params.transactionInfo.transactionId === txId);
  check(events.every((m, i) => m.params.seqNo === i), 'seqNo 0..n-1 without gaps', events.map((m) => m.params.seqNo));
  const energy = (m) => m.params.meterValue?.[0].sampledValue.find((v) => v.measurand === 'Energy.Active.Import.Register')?.value;
  const registers = events.map(energy).filter((v) => v !== undefined);
  check(registers.every((v, i) => i === 0 || v >= registers[i - 1]) && registers.at(-1) > registers[0], 'energy register rises', registers);
}

async function remoteControl() {
  await step('idle');
  let from = since();
  const start = await call('RequestStartTransaction', { evseId: 1, remoteStartId: 7, idToken: { idToken: 'HomeAssistant', type: 'Central' } });
  check(start.status === 'Accepted', 'RequestStartTransaction Accepted');
  const started = await next('TransactionEvent', (p) => p.eventType === 'Started', from);
  check(started.params.triggerReason === 'RemoteStart' && started.params.transactionInfo.remoteStartId === 7, 'Started RemoteStart with remoteStartId');
  check(started.params.evse?.connectorId === undefined, 'cable not in yet: evse without connectorId');
  await next('TransactionEvent', (p) => p.triggerReason === 'CablePluggedIn' && p.evse?.connectorId === 1, from);
  await next('TransactionEvent', (p) => p.triggerReason === 'MeterValuePeriodic', from);
  const txId = started.params.transactionInfo.transactionId;

  check((await call('UnlockConnector', { evseId: 1, connectorId: 1 })).status === 'OngoingAuthorizedTransaction', 'no unlock while charging');
  check((await call('Reset', { type: 'OnIdle' })).status === 'Scheduled', 'Reset OnIdle Scheduled during a transaction');
  check((await call('ChangeAvailability', { operationalStatus: 'Inoperative' })).status === 'Scheduled', 'ChangeAvailability Scheduled during a transaction');
  check((await call('ChangeAvailability', { operationalStatus: 'Operative' })).status === 'Accepted', 'back to Operative');
  const status = await call('GetTransactionStatus', { transactionId: txId });
  check(status.ongoingIndicator === true && status.messagesInQueue === false, 'GetTransactionStatus ongoing');
  const triggered = await call('TriggerMessage', { requestedMessage: 'TransactionEvent', evse: { id: 1 } });
  check(triggered.status === 'Accepted', 'TriggerMessage TransactionEvent');
  await next('TransactionEvent', (p) => p.triggerReason === 'Trigger', from);

  from = since();
  check((await call('RequestStopTransaction', { transactionId: txId })).status === 'Accepted', 'remote stop');
  await next('TransactionEvent', (p) => p.eventType === 'Ended' && p.transactionInfo.stoppedReason === 'Remote', from);
  // The scheduled reset runs once the cable is out: a new connection and a RemoteReset boot.
  const reboot = await next('BootNotification', (p) => p.reason === 'RemoteReset', from);
  check(reboot.client !== clients[0], 'reset: the station came back on a new connection');
  await next('StatusNotification', () => true, reboot.index);
  await next('SecurityEventNotification', (p) => p.type === 'ResetOrReboot', from);
  check((await call('UnlockConnector', { evseId: 1, connectorId: 1 })).status === 'Unlocked', 'unlock when idle');
  check((await call('UnlockConnector', { evseId: 1, connectorId: 2 })).status === 'UnknownConnector', 'unknown connector');
}

async function management() {
  let from = since();
  check((await call('ChangeAvailability', { operationalStatus: 'Inoperative', evse: { id: 1 } })).status === 'Accepted', 'Inoperative');
  await next('StatusNotification', (p) => p.connectorStatus === 'Unavailable', from);
  check((await call('ChangeAvailability', { operationalStatus: 'Operative' })).status === 'Accepted', 'Operative');
  await next('StatusNotification', (p) => p.connectorStatus === 'Available', from);

  check((await call('TriggerMessage', { requestedMessage: 'BootNotification' })).status === 'Rejected', 'F06.FR.17 no boot when Accepted');
  from = since();
  check((await call('TriggerMessage', { requestedMessage: 'MeterValues', evse: { id: 1 } })).status === 'Accepted', 'trigger MeterValues');
  await next('MeterValues', (p) => p.evseId === 1 && p.meterValue[0].sampledValue[0].context === 'Trigger', from);
  check((await call('TriggerMessage', { requestedMessage: 'Heartbeat' })).status === 'Accepted', 'trigger Heartbeat');
  await next('Heartbeat', () => true, from);

  const entry = (token) => ({ idToken: { idToken: token, type: 'ISO14443' }, idTokenInfo: { status: 'Accepted' } });
  check((await call('SendLocalList', { versionNumber: 3, updateType: 'Full', localAuthorizationList: [entry('AA01'), entry('AA02')] })).status === 'Accepted', 'local list Full');
  check((await call('GetLocalListVersion', {})).versionNumber === 3, 'local list version 3');
  check((await call('SendLocalList', { versionNumber: 2, updateType: 'Differential', localAuthorizationList: [entry('AA03')] })).status === 'VersionMismatch', 'older differential list');
  const entries = await call('GetVariables', { getVariableData: [{ component: { name: 'LocalAuthListCtrlr' }, variable: { name: 'Entries' } }] });
  check(entries.getVariableResult[0].attributeValue === '2', 'LocalAuthListCtrlr.Entries 2');
  check((await call('ClearCache', {})).status === 'Accepted', 'ClearCache');
  const echo = await call('DataTransfer', { vendorId: 'org.ocpp-ems.test', messageId: 'ping', data: { n: 1 } });
  check(echo.status === 'Accepted' && echo.data?.echo?.n === 1, 'DataTransfer echo');
  check((await call('DataTransfer', { vendorId: 'com.other' })).status === 'UnknownVendorId', 'DataTransfer unknown vendor');

  from = since();
  const expiry = new Date(Date.now() + 60000).toISOString();
  check((await call('ReserveNow', { id: 11, evseId: 1, expiryDateTime: expiry, idToken: { idToken: 'AA01', type: 'ISO14443' } })).status === 'Accepted', 'ReserveNow');
  await next('StatusNotification', (p) => p.connectorStatus === 'Reserved', from);
  check((await call('CancelReservation', { reservationId: 11 })).status === 'Accepted', 'CancelReservation');
  await next('StatusNotification', (p) => p.connectorStatus === 'Available', from);

  from = since();
  check((await call('GetChargingProfiles', { requestId: 5, chargingProfile: {} })).status === 'Accepted', 'GetChargingProfiles');
  const reported = await next('ReportChargingProfiles', (p) => p.requestId === 5 && !p.tbc, from);
  check(reported.params.chargingProfile.length >= 1, 'ReportChargingProfiles');
  check((await call('ClearChargingProfile', { chargingProfileCriteria: { chargingProfilePurpose: 'TxDefaultProfile' } })).status === 'Accepted', 'clear TxDefault');
  check((await call('ClearChargingProfile', { chargingProfileCriteria: { chargingProfilePurpose: 'TxDefaultProfile' } })).status === 'Unknown', 'nothing left to clear');
  const noUnit = await call('GetCompositeSchedule', { evseId: 7, duration: 60 });
  check(noUnit.status === 'Rejected', 'composite schedule of an unknown EVSE rejected');

  from = since();
  const log = await call('GetLog', { logType: 'DiagnosticsLog', requestId: 21, log: { remoteLocation: 'https://logs.example/upload' } });
  check(log.status === 'Accepted' && log.filename?.includes('DiagnosticsLog'), 'GetLog');
  await next('LogStatusNotification', (p) => p.status === 'Uploaded' && p.requestId === 21, from);

  from = since();
  const fw = await call('UpdateFirmware', {
    requestId: 31,
    firmware: { location: 'https://fw.example/station-2.0.2.bin', retrieveDateTime: now() },
  });
  check(fw.status === 'Accepted', 'UpdateFirmware');
  const boot = await next('BootNotification', (p) => p.reason === 'FirmwareUpdate', from);
  check(boot.params.chargingStation.firmwareVersion === 'station-2.0.2', 'new firmware version at boot', boot.params.chargingStation);
  await next('FirmwareStatusNotification', (p) => p.status === 'Installed' && p.requestId === 31, from);
  const sequence = inbox.filter((m) => m.index >= from && m.method === 'FirmwareStatusNotification').map((m) => m.params.status);
  check(
    JSON.stringify(sequence) === JSON.stringify(['Downloading', 'Downloaded', 'Installing', 'InstallRebooting', 'Installed']),
    'firmware status sequence',
    sequence,
  );
}

async function main() {
  const http = await server.listen(0, '127.0.0.1');
  const { port } = http.address();
  const station = startStation(`ws://127.0.0.1:${port}/ocpp/${STATION_ID}`, ['--expect-limit', '10', '--end', 'remote', '--meter-interval-ms', '150']);
  let code;
  try {
    await onboarding();
    await session();
    await remoteControl();
    await management();
  } catch (err) {
    failures.push({ what: String(err?.message ?? err), detail: null });
  } finally {
    station.stdin.end();
    code = await Promise.race([station.exited, sleep(5000).then(() => 'timeout')]);
    if (code === 'timeout') station.kill();
    await server.close({ force: true });
  }
  const done = steps('done').at(-1);
  // The one violation provoked on purpose: RequestStartTransaction while Pending.
  const violations = steps('violation');
  check(violations.length === 1 && /RequestStartTransaction while/.test(violations[0].rule), 'exactly the provoked violation', violations);
  check(code === 5 && done?.strict_failures === 0, 'station exit code 5 (the provoked violation), no strict failures', { code, done });
  check(steps('strict_validation_failure').length === 0 && steps('error').length === 0, 'station saw no schema failure or error');
  check(strictFailures === 0, 'CSMS saw no schema failure');
  check(lines.every((l) => l.step !== 'call_error'), 'no CALLERROR answers', steps('call_error'));
  emit('selfcheck', { ok: failures.length === 0, protocol: PROTOCOL, checks, failures, station_exit: code });
  return failures.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    emit('selfcheck', { ok: false, error: String(err?.stack ?? err) });
    process.exit(1);
  },
);
