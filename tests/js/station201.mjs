#!/usr/bin/env node
// An independent OCPP 2.0.1 (or 2.1) charging station, scripted with the npm package `ocpp-rpc` in
// STRICT mode: every frame, both directions, is validated against ocpp-rpc's copy of the official
// JSON schemas (2.1: see ocpp2/validators.mjs). On top of the schemas it applies the spec's rules a
// real station applies (device-model mutability and value checks, K01 profile validation, B02
// Pending restrictions, F06 trigger rules ...): a breach by the CSMS is answered as the spec says
// and printed as a `violation` line.
//
// One station: EVSE 1 with connector 1 (Type 2, 3 phases, 32 A), a simulated car drawing at most
// 16 A per phase, an energy register advancing with the simulated power over real time.
//
// Script: connect (Basic auth when a password is given) -> BootNotification (Pending: retry, or at
// once on TriggerMessage(BootNotification); a SetVariables SecurityCtrlr.BasicAuthPassword makes it
// reconnect with the new password, A01) -> StatusNotification, Heartbeat -> a session: cable
// plugged in (TransactionEvent Started, TxStartPoint EVConnected), Authorize, Updated(Authorized),
// Charging, periodic meter values -> wait for the expected composite limit -> stop (--end local:
// the user ends it; --end remote: wait for RequestStopTransaction) -> `idle`: stays connected and
// serves the CSMS (remote start/stop, reset, firmware, logs ...) until stdin closes or a `quit` line
// arrives (or --linger-ms passes) -> `done`.
//
// Output: ONE JSON OBJECT PER LINE on stdout (common.emit): connected, boot, status, heartbeat,
// received (one per incoming call, with what the station made of it), report (one per NotifyReport),
// authorize, transaction_event, composite, waiting_for_limit, limit_changed, idle, reconnect,
// reset, firmware_status, log_status, call_error (a CALLERROR answer to one of our calls),
// violation, strict_validation_failure, bad_message, connect_failed (with the HTTP status or the
// TLS error code, and the slot tried), network_fallback (B10: on with the next slot),
// sign_certificate, certificate_signed, done -- or error. `connected` tells the slot, URL and
// security profile it connected with.
// Exit code: 0; 1 error; 2 no limit change in time; 3 id token refused; 4 strict-mode failures;
// 5 spec violations by the CSMS; 6 no connection (after --connect-attempts); 7 no certificate.
//
// Usage: node station201.mjs <ws-url-ending-in-station-id> [options]     (or OCPP_URL=...)
//   --ocpp V               2.0.1 (default), 2.1, or a preference list such as 2.1,2.0.1
//   --password P           Basic-auth password (env OCPP_PASSWORD)
//   --id-token T           id token of the user's card (default 04A1B2C3D4E5F6, type ISO14443)
//   --meter-start WH       energy register at start (default 1000000)
//   --meter-count N        periodic meter values before waiting for a limit (default 3)
//   --meter-interval-ms MS time between meter values (default 200; a time lapse of the station's
//                          TxUpdatedInterval; energy still follows real time unless --sim-seconds)
//   --sim-seconds S        simulated seconds of charging per sample
//   --expect-limit A       wait until the composite limit equals A (default: any profile change)
//   --limit-timeout-ms MS  give up waiting for the limit (default 30000, exit code 2)
//   --settle-ms MS         pause after boot before the cable is plugged in (default 300)
//   --end local|remote     how the scripted session ends (default local)
//   --offline-ms MS        after the limit change, lose the connection for MS while charging: the
//                          TransactionEvents of that time are queued (offline: true) and sent in
//                          order after the reconnect (no new boot: it was Accepted)
//   --no-session           no scripted session: boot, then idle
//   --linger-ms MS         leave this long after `idle` (default: when stdin closes)
//   --rate-unit U          SmartChargingCtrlr.RateUnit (default "A,W")
//   --stack-levels N       SmartChargingCtrlr.ProfileStackLevel (default 8)
//   --periods N            SmartChargingCtrlr.PeriodsPerSchedule (default 10)
//   --report-items N       DeviceDataCtrlr.ItemsPerMessage[GetReport] (default 10)
//   --phase-switching      ACPhaseSwitchingSupported true
//   --sign-readings        SampledDataCtrlr.SignReadings true (signed Energy register values)
//   --connect-attempts N   give up connecting after N attempts (default 20; exit code 6)
//   --cert-timeout-ms MS   with --csr: wait this long for CertificateSigned (default 15000)
//   --fail-new-profile     a network profile set by SetNetworkProfile never connects: the CSMS root
//                          it installed does not make it into its TLS trust store (a broken
//                          firmware), so the handshake fails and it falls back to the next slot (B10)
//   TLS (wss:// URLs, security profiles 2 and 3): --ca, --cert, --key, --csr, --tls-min-version,
//                          --tls-max-version, --ciphers (see common.mjs TLS_OPTIONS); with --csr the
//                          station sends SignCertificate (ChargingStationCertificate) after boot,
//                          writes the certificate of CertificateSigned and reconnects with it (A02)
//
// Network profiles (B09 / B10, the security upgrade of A05): the URL it was started with is
// configuration slot 1. SetNetworkProfile keeps a profile per slot (checked: a known slot, not the
// active one, JSON, an interface it has, ws:// only for profile 1, a CSMS root installed for 2 and 3,
// a ChargingStationCertificate for 3); OCPPCommCtrlr.NetworkConfigurationPriority (only slots that
// have a profile; RebootRequired) orders them. After a reset it connects with the first slot of that
// order: profile 2 wss:// trusting the installed CSMS root(s) with its password, profile 3 wss://
// with the certificate of CertificateSigned and without a password; after
// OCPPCommCtrlr.NetworkProfileConnectionAttempts failures on a slot it falls back to the next one.
// With --csr and a plain ws:// start (profile 1), the CSR is sent only when the CSMS asks for it
// (TriggerMessage SignChargingStationCertificate) and the certificate is kept for a profile-3 slot.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { X509Certificate, createPrivateKey, randomUUID } from 'node:crypto';

import { RPCClient, createRPCError } from 'ocpp-rpc';

import {
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
  watchWire,
  wsOptions,
} from './common.mjs';
import { DeviceModel, variable } from './ocpp2/device-model.mjs';
import { ChargingProfiles } from './ocpp2/smart-charging.mjs';
import { OCPP21, strictValidators } from './ocpp2/validators.mjs';

// ---------------------------------------------------------------------------------------- options
const opts = parseOptions(
  process.argv.slice(2),
  {
    ocpp: '2.0.1',
    idToken: '04A1B2C3D4E5F6',
    meterStart: 1000000,
    meterCount: 3,
    meterIntervalMs: 200,
    simSeconds: undefined,
    expectLimit: undefined,
    limitTimeoutMs: 30000,
    settleMs: 300,
    end: 'local',
    offlineMs: 0,
    noSession: false,
    lingerMs: undefined,
    rateUnit: 'A,W',
    stackLevels: 8,
    periods: 10,
    reportItems: 10,
    phaseSwitching: false,
    signReadings: false,
    connectAttempts: 20,
    certTimeoutMs: 15000,
    failNewProfile: false,
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
      '--linger-ms': 'lingerMs',
      '--offline-ms': 'offlineMs',
      '--stack-levels': 'stackLevels',
      '--periods': 'periods',
      '--report-items': 'reportItems',
      '--connect-attempts': 'connectAttempts',
      '--cert-timeout-ms': 'certTimeoutMs',
    },
    strings: { '--ocpp': 'ocpp', '--id-token': 'idToken', '--end': 'end', '--rate-unit': 'rateUnit' },
    flags: {
      '--no-session': 'noSession',
      '--phase-switching': 'phaseSwitching',
      '--sign-readings': 'signReadings',
      '--fail-new-profile': 'failNewProfile',
    },
  },
  'node station201.mjs ws://host:port/path/STATION_ID [options]',
);
if (opts.csrFile && !(opts.certFile && opts.keyFile)) throw new Error('--csr needs --cert (written) and --key');
const PROTOCOLS = opts.ocpp.split(',').map((v) => `ocpp${v.trim()}`);

// ------------------------------------------------------------------------------------- constants
const EVSE = 1;
const CONNECTOR = 1;
const VOLTAGE = 230;
const HARDWARE_MAX_A = 32;
const CAR_MAX_A = 16; // the simulated car draws at most this per phase
const MIN_CURRENT_A = 6; // IEC 61851: below this the car pauses
const VENDOR = 'ocpp-rpc';
const MODEL = 'StrictSim201';
const SERIAL = 'JS-201-0001';
const DATA_TRANSFER_VENDOR = 'org.ocpp-ems.test';
// 2.0.1 measurands this station can sample (SoC needs ISO 15118, which it does not speak).
const MEASURANDS = [
  'Energy.Active.Import.Register',
  'Power.Active.Import',
  'Power.Offered',
  'Current.Import',
  'Current.Offered',
  'Voltage',
  'Frequency',
];

// ----------------------------------------------------------------------------------------- state
const wire = { strict: 0 }; // strict-mode failures (common.watchWire)
let violations = 0;
let protocol; // negotiated at connect

const state = {
  registration: 'None', // None | Pending | Accepted | Rejected (BootNotification answer)
  password: opts.password,
  firmwareVersion: '2.0.1-sim',
  energyWh: opts.meterStart,
  lastSampleAt: Date.now(),
  plugged: false,
  tx: undefined, // {id, seqNo, startedAt, authorized, idToken, chargingState, remoteStartId, priority, ended}
  operative: true,
  pendingInoperative: false,
  resetScheduled: false,
  localList: { version: 0, entries: new Map() },
  reservation: undefined, // {id, expiresAt, timer}
  firmwareJob: undefined, // {requestId, cancelled, status}
  logJob: undefined,
  lastOfferedA: undefined,
  certificates: [], // InstallCertificate: {certificateType, certificate}
};

// B09 / B10: network connection profiles by configuration slot (see the header). Slot 1 is the URL
// it was started with, its profile derived from its options (securityProfile undefined).
const NETWORK_SLOTS = '1,2,3,4';
const INTERFACES = ['Wired0'];
const network = {
  slots: new Map([[1, { url: opts.url, securityProfile: undefined, set: false }]]),
  active: 1,
};

function violation(rule, detail = {}) {
  violations++;
  emit('violation', { rule, ...detail });
}

// ---------------------------------------------------------------------------------- device model
const station = { name: 'ChargingStation' };
const evse = { name: 'EVSE', evse: { id: EVSE } };
const connector = { name: 'Connector', evse: { id: EVSE, connectorId: CONNECTOR } };
const ctrlr = (name) => ({ name });
const availabilityStates = 'Available,Occupied,Reserved,Unavailable,Faulted';
const rw = { mutability: 'ReadWrite' };
const bool = { dataType: 'boolean' };
const int = { dataType: 'integer' };
const measurandList = { dataType: 'MemberList', valuesList: MEASURANDS.join(','), mutability: 'ReadWrite' };
const is21 = () => protocol === OCPP21;

const model = new DeviceModel([
  variable(station, 'AvailabilityState', 'Available', { dataType: 'OptionList', valuesList: availabilityStates }),
  variable(station, 'Available', 'true', bool),
  variable(station, 'Model', MODEL, { constant: true }),
  variable(station, 'VendorName', VENDOR, { constant: true }),
  variable(station, 'SupplyPhases', 3, { ...int, constant: true }),
  variable(evse, 'AvailabilityState', 'Available', { dataType: 'OptionList', valuesList: availabilityStates }),
  variable(evse, 'Available', 'true', bool),
  variable(evse, 'SupplyPhases', 3, { ...int, constant: true }),
  variable(evse, 'Power', 0, {
    dataType: 'decimal',
    unit: 'W',
    maxLimit: HARDWARE_MAX_A * VOLTAGE * 3,
    attributes: {
      Actual: { value: '0', mutability: 'ReadOnly' },
      MaxSet: { value: String(HARDWARE_MAX_A * VOLTAGE * 3), mutability: 'ReadOnly', constant: true },
    },
  }),
  variable(connector, 'AvailabilityState', 'Available', { dataType: 'OptionList', valuesList: availabilityStates }),
  variable(connector, 'Available', 'true', bool),
  variable(connector, 'ConnectorType', 'cType2', { constant: true }),
  variable(connector, 'SupplyPhases', 3, { ...int, constant: true }),
  variable(ctrlr('SmartChargingCtrlr'), 'Enabled', 'true', { ...bool, ...rw }),
  variable(ctrlr('SmartChargingCtrlr'), 'Available', 'true', bool),
  variable(ctrlr('SmartChargingCtrlr'), 'RateUnit', opts.rateUnit, { dataType: 'MemberList', valuesList: 'A,W' }),
  variable(ctrlr('SmartChargingCtrlr'), 'ProfileStackLevel', opts.stackLevels, int),
  variable(ctrlr('SmartChargingCtrlr'), 'PeriodsPerSchedule', opts.periods, int),
  variable(ctrlr('SmartChargingCtrlr'), 'Entries', 0, { ...int, instance: 'ChargingProfiles', maxLimit: 16, read: () => String(profiles.count) }),
  variable(ctrlr('SmartChargingCtrlr'), 'ACPhaseSwitchingSupported', String(opts.phaseSwitching), bool),
  variable(ctrlr('SmartChargingCtrlr'), 'Phases3to1', String(opts.phaseSwitching), bool),
  variable(ctrlr('SmartChargingCtrlr'), 'LimitChangeSignificance', '0.1', { dataType: 'decimal', ...rw }),
  variable(ctrlr('SmartChargingCtrlr'), 'ExternalControlSignalsEnabled', 'false', { ...bool, ...rw }),
  variable(ctrlr('SmartChargingCtrlr'), 'NotifyChargingLimitWithSchedules', 'false', { ...bool, ...rw }),
  variable(ctrlr('SampledDataCtrlr'), 'Enabled', 'true', { ...bool, ...rw }),
  variable(ctrlr('SampledDataCtrlr'), 'Available', 'true', bool),
  variable(ctrlr('SampledDataCtrlr'), 'TxStartedMeasurands', 'Energy.Active.Import.Register', measurandList),
  variable(
    ctrlr('SampledDataCtrlr'),
    'TxUpdatedMeasurands',
    'Energy.Active.Import.Register,Power.Active.Import,Current.Import,Current.Offered,Voltage',
    measurandList,
  ),
  variable(ctrlr('SampledDataCtrlr'), 'TxEndedMeasurands', 'Energy.Active.Import.Register', measurandList),
  variable(ctrlr('SampledDataCtrlr'), 'TxUpdatedInterval', 60, { ...int, ...rw, unit: 's', minLimit: 0, maxLimit: 3600 }),
  variable(ctrlr('SampledDataCtrlr'), 'TxEndedInterval', 0, { ...int, ...rw, unit: 's', minLimit: 0, maxLimit: 3600 }),
  variable(ctrlr('SampledDataCtrlr'), 'SignReadings', String(opts.signReadings), { ...bool, ...rw }),
  variable(ctrlr('SampledDataCtrlr'), 'RegisterValuesWithoutPhases', 'true', { ...bool, ...rw }),
  variable(ctrlr('AlignedDataCtrlr'), 'Enabled', 'true', { ...bool, ...rw }),
  variable(ctrlr('AlignedDataCtrlr'), 'Measurands', 'Energy.Active.Import.Register', measurandList),
  variable(ctrlr('AlignedDataCtrlr'), 'Interval', 0, { ...int, ...rw, unit: 's', minLimit: 0 }),
  variable(ctrlr('AlignedDataCtrlr'), 'TxEndedMeasurands', 'Energy.Active.Import.Register', measurandList),
  variable(ctrlr('AlignedDataCtrlr'), 'TxEndedInterval', 0, { ...int, ...rw, unit: 's', minLimit: 0 }),
  variable(ctrlr('AuthCtrlr'), 'Enabled', 'true', { ...bool, ...rw }),
  variable(ctrlr('AuthCtrlr'), 'AuthorizeRemoteStart', 'false', { ...bool, ...rw }),
  variable(ctrlr('AuthCtrlr'), 'LocalAuthorizeOffline', 'true', { ...bool, ...rw }),
  variable(ctrlr('AuthCtrlr'), 'LocalPreAuthorize', 'false', { ...bool, ...rw }),
  variable(ctrlr('AuthCtrlr'), 'OfflineTxForUnknownIdEnabled', 'false', { ...bool, ...rw }),
  variable(ctrlr('AuthCacheCtrlr'), 'Enabled', 'true', { ...bool, ...rw }),
  variable(ctrlr('AuthCacheCtrlr'), 'Available', 'true', bool),
  variable(ctrlr('AuthCacheCtrlr'), 'LifeTime', 86400, { ...int, ...rw, unit: 's' }),
  variable(ctrlr('LocalAuthListCtrlr'), 'Enabled', 'true', { ...bool, ...rw }),
  variable(ctrlr('LocalAuthListCtrlr'), 'Available', 'true', bool),
  variable(ctrlr('LocalAuthListCtrlr'), 'Entries', 0, { ...int, maxLimit: 100, read: () => String(state.localList.entries.size) }),
  variable(ctrlr('LocalAuthListCtrlr'), 'ItemsPerMessage', 50, int),
  variable(ctrlr('LocalAuthListCtrlr'), 'BytesPerMessage', 16384, int),
  variable(ctrlr('ReservationCtrlr'), 'Enabled', 'true', { ...bool, ...rw }),
  variable(ctrlr('ReservationCtrlr'), 'Available', 'true', bool),
  variable(ctrlr('ReservationCtrlr'), 'NonEvseSpecific', 'false', bool),
  variable(ctrlr('TxCtrlr'), 'TxStartPoint', 'EVConnected,Authorized', {
    dataType: 'MemberList',
    valuesList: 'ParkingBayOccupancy,EVConnected,Authorized,PowerPathClosed,EnergyTransfer,DataSigned',
    ...rw,
  }),
  variable(ctrlr('TxCtrlr'), 'TxStopPoint', 'EVConnected,Authorized', {
    dataType: 'MemberList',
    valuesList: 'ParkingBayOccupancy,EVConnected,Authorized,PowerPathClosed,EnergyTransfer',
    ...rw,
  }),
  variable(ctrlr('TxCtrlr'), 'EVConnectionTimeOut', 120, { ...int, ...rw, unit: 's' }),
  variable(ctrlr('TxCtrlr'), 'StopTxOnEVSideDisconnect', 'true', bool),
  variable(ctrlr('TxCtrlr'), 'StopTxOnInvalidId', 'true', { ...bool, ...rw }),
  variable(ctrlr('TxCtrlr'), 'MaxEnergyOnInvalidId', 0, { ...int, ...rw, unit: 'Wh' }),
  variable(ctrlr('SecurityCtrlr'), 'SecurityProfile', Math.max(connectionProfile(opts, opts.password), 1), int),
  variable(ctrlr('SecurityCtrlr'), 'BasicAuthPassword', '', {
    maxLimit: 40,
    attributes: { Actual: { value: '', mutability: 'WriteOnly' } },
    // passwordString: 16..40 printable ASCII characters (2.0.1 part 2, A01)
    validate: (value) => (/^[\x21-\x7e]{16,40}$/.test(value) ? null : 'InvalidPassword'),
    onSet: (value) => {
      state.newPassword = value;
    },
  }),
  variable(ctrlr('SecurityCtrlr'), 'Identity', opts.identity),
  variable(ctrlr('SecurityCtrlr'), 'OrganizationName', 'OCPP EMS tests', { ...rw, maxLimit: 64 }),
  variable(ctrlr('SecurityCtrlr'), 'CertificateEntries', 0, { ...int, read: () => String(state.certificates.length) }),
  variable(ctrlr('DeviceDataCtrlr'), 'ItemsPerMessage', opts.reportItems, { ...int, instance: 'GetReport' }),
  variable(ctrlr('DeviceDataCtrlr'), 'ItemsPerMessage', 16, { ...int, instance: 'GetVariables' }),
  variable(ctrlr('DeviceDataCtrlr'), 'ItemsPerMessage', 16, { ...int, instance: 'SetVariables' }),
  variable(ctrlr('DeviceDataCtrlr'), 'BytesPerMessage', 65000, { ...int, instance: 'GetReport' }),
  variable(ctrlr('DeviceDataCtrlr'), 'BytesPerMessage', 65000, { ...int, instance: 'GetVariables' }),
  variable(ctrlr('DeviceDataCtrlr'), 'BytesPerMessage', 65000, { ...int, instance: 'SetVariables' }),
  variable(ctrlr('DeviceDataCtrlr'), 'ConfigurationValueSize', 1000, int),
  variable(ctrlr('DeviceDataCtrlr'), 'ReportingValueSize', 2500, int),
  variable(ctrlr('OCPPCommCtrlr'), 'HeartbeatInterval', 300, {
    ...int,
    ...rw,
    unit: 's',
    minLimit: 1,
    onSet: () => startHeartbeat(),
  }),
  variable(ctrlr('OCPPCommCtrlr'), 'MessageTimeout', 30, { ...int, instance: 'Default', unit: 's' }),
  variable(ctrlr('OCPPCommCtrlr'), 'MessageAttempts', 3, { ...int, ...rw, instance: 'TransactionEvent' }),
  variable(ctrlr('OCPPCommCtrlr'), 'MessageAttemptInterval', 10, { ...int, ...rw, instance: 'TransactionEvent', unit: 's' }),
  variable(ctrlr('OCPPCommCtrlr'), 'OfflineThreshold', 60, { ...int, ...rw, unit: 's' }),
  variable(ctrlr('OCPPCommCtrlr'), 'ResetRetries', 2, { ...int, ...rw }),
  variable(ctrlr('OCPPCommCtrlr'), 'UnlockOnEVSideDisconnect', 'true', { ...bool, ...rw }),
  variable(ctrlr('OCPPCommCtrlr'), 'NetworkConfigurationPriority', '1', {
    dataType: 'SequenceList',
    valuesList: NETWORK_SLOTS,
    ...rw,
    // Only slots that hold a network profile can be tried.
    validate: (value) => (value.split(',').every((slot) => network.slots.has(Number(slot))) ? null : 'NoNetworkProfile'),
  }),
  variable(ctrlr('OCPPCommCtrlr'), 'NetworkProfileConnectionAttempts', 2, { ...int, ...rw, minLimit: 1 }),
  variable(ctrlr('OCPPCommCtrlr'), 'WebSocketPingInterval', 0, { ...int, ...rw, unit: 's' }),
  variable(ctrlr('OCPPCommCtrlr'), 'FileTransferProtocols', 'HTTPS,FTPS', { dataType: 'MemberList', valuesList: 'FTP,FTPS,HTTP,HTTPS,SFTP' }),
  variable(ctrlr('ClockCtrlr'), 'DateTime', '', { dataType: 'dateTime', read: now }),
  variable(ctrlr('ClockCtrlr'), 'TimeSource', 'Heartbeat', {
    dataType: 'SequenceList',
    valuesList: 'Heartbeat,NTP,GPS,RealTimeClock,MobileNetwork,RadioTimeTransmitter',
    ...rw,
  }),
  // 2.1 only: Dynamic profiles (SupportsDynamicProfiles) and the PriorityCharging purpose.
  ...(PROTOCOLS.includes(OCPP21)
    ? [
        variable(ctrlr('SmartChargingCtrlr'), 'SupportsFeature', 'true', { ...bool, instance: 'DynamicProfiles' }),
        variable(ctrlr('SmartChargingCtrlr'), 'SupportedAdditionalPurposes', 'PriorityCharging', {
          dataType: 'MemberList',
          valuesList: 'PriorityCharging,LocalGeneration',
        }),
      ]
    : []),
]);

const setting = (component, name, instance) => model.value(component, name, { variableInstance: instance });
const enabled = (component) => setting(component, 'Enabled') === 'true';
const measurands = (name) => setting('SampledDataCtrlr', name).split(',').filter(Boolean);

// ------------------------------------------------------------------------------- smart charging
const profiles = new ChargingProfiles({
  evseIds: [EVSE],
  voltage: VOLTAGE,
  hardwareMaxA: HARDWARE_MAX_A,
  rules: () => ({
    rateUnits: setting('SmartChargingCtrlr', 'RateUnit').split(','),
    maxStackLevel: Number(setting('SmartChargingCtrlr', 'ProfileStackLevel')),
    periodsPerSchedule: Number(setting('SmartChargingCtrlr', 'PeriodsPerSchedule')),
    maxEntries: 16,
    phaseSwitching: setting('SmartChargingCtrlr', 'ACPhaseSwitchingSupported') === 'true',
    supplyPhases: Number(model.value('EVSE', 'SupplyPhases', { evse: { id: EVSE } })),
    dynamic: is21(),
    additionalPurposes: is21() ? ['PriorityCharging'] : [],
  }),
  transaction: (evseId) => (evseId === EVSE && state.tx && !state.tx.ended ? state.tx : undefined),
});

const composite = () => profiles.compositeAt(EVSE);

// ------------------------------------------------------------------------------ the connection
// A gate that calls wait for: open while connected (and, for most messages, registered).
class Gate {
  constructor() {
    this.isOpen = false;
    this.waiters = [];
  }
  open() {
    this.isOpen = true;
    for (const resolve of this.waiters.splice(0)) resolve();
  }
  close() {
    this.isOpen = false;
  }
  wait() {
    return this.isOpen ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}
const connected = new Gate();
const accepted = new Gate(); // B02: while not Accepted only BootNotification (and what the CSMS asks for) goes out

const cli = new RPCClient({
  endpoint: opts.endpoint,
  identity: opts.identity,
  protocols: PROTOCOLS,
  strictMode: true,
  strictModeValidators: strictValidators(PROTOCOLS),
  password: opts.password,
  reconnect: false,
  callTimeoutMs: 20000,
  wsOpts: wsOptions(opts),
});
let closingOnPurpose = false;
let quitting = false;

// The slots in the order NetworkConfigurationPriority gives them.
const prioritySlots = () => setting('OCPPCommCtrlr', 'NetworkConfigurationPriority').split(',').map(Number);
const csmsRoots = () => state.certificates.filter((c) => c.certificateType === 'CSMSRootCertificate').map((c) => c.certificate);

// How slot `slot` connects: its URL (ocpp-rpc's endpoint: without the identity), security profile,
// password and TLS options.
function slotConnection(slot) {
  const { url, securityProfile, set } = network.slots.get(slot);
  if (!set) {
    const profile = connectionProfile(opts, state.password);
    const clientCertificate = hasClientCertificate(opts);
    return { url, endpoint: opts.endpoint, profile, password: state.password, wsOpts: wsOptions(opts), clientCertificate };
  }
  const tls = {};
  if (url.startsWith('wss://')) {
    // --fail-new-profile: the installed root never reaches the trust store (node's defaults only).
    if (!opts.failNewProfile) tls.ca = csmsRoots();
    if (securityProfile === 3) {
      tls.cert = readFileSync(opts.certFile);
      tls.key = readFileSync(opts.keyFile);
    }
  }
  const password = securityProfile === 3 ? undefined : state.password;
  const endpoint = url.replace(/\/+$/, '');
  return { url, endpoint, profile: securityProfile, password, wsOpts: tls, clientCertificate: securityProfile === 3 };
}

// Connect with the active slot (after a reboot: the first of the priority list); after
// NetworkProfileConnectionAttempts failures on a slot, on with the next one (B10).
async function connect({ fromTop = false } = {}) {
  const order = prioritySlots();
  let index = fromTop ? 0 : Math.max(order.indexOf(network.active), 0);
  let failures = 0;
  let target;
  for (let attempt = 1; ; attempt++) {
    const slot = order[index];
    target = slotConnection(slot);
    cli.reconfigure({ endpoint: target.endpoint, password: target.password, wsOpts: target.wsOpts });
    try {
      await cli.connect();
      network.active = slot;
      break;
    } catch (err) {
      emit('connect_failed', { attempt, slot, ...connectError(err) });
      if (attempt >= opts.connectAttempts) throw fail(`connection failed: ${err?.message ?? err}`, 6);
      if (quitting) throw err;
      failures++;
      if (order.length > 1 && failures >= Number(setting('OCPPCommCtrlr', 'NetworkProfileConnectionAttempts'))) {
        index = (index + 1) % order.length;
        failures = 0;
        emit('network_fallback', { from_slot: slot, to_slot: order[index] });
      }
      await sleep(Math.min(250 * attempt, 2000));
    }
  }
  protocol = cli.protocol;
  closingOnPurpose = false;
  model.update('SecurityCtrlr', 'SecurityProfile', Math.max(target.profile, 1));
  emit('connected', {
    protocol,
    identity: opts.identity,
    slot: network.active,
    url: target.url,
    basic_auth: Boolean(target.password),
    tls: target.url.startsWith('wss://'),
    client_certificate: target.clientCertificate,
    security_profile: target.profile,
  });
  connected.open();
}

// Send one CALL once the link allows it; a call cut off by a reconnect is sent again afterwards.
async function send(method, params, { beforeAccepted = false } = {}) {
  for (;;) {
    await (beforeAccepted ? connected.wait() : Promise.all([connected.wait(), accepted.wait()]));
    try {
      return await cli.call(method, params);
    } catch (err) {
      if (err?.rpcErrorCode === undefined && !connected.isOpen && !quitting) continue; // link went down
      throw err;
    }
  }
}

// A message whose CALLERROR answer is reported (`call_error`) rather than fatal.
async function notify(method, params, options) {
  try {
    return await send(method, params, options);
  } catch (err) {
    if (err?.rpcErrorCode === undefined) throw err;
    emit('call_error', { action: method, code: err.rpcErrorCode, message: String(err.message) });
    return undefined;
  }
}

// Drop the connection and come back (a reconnect with a new password, or a reboot).
async function reconnect(reason, { reboot = false } = {}) {
  connected.close();
  accepted.close();
  stopHeartbeat();
  emit('reconnect', { reason });
  closingOnPurpose = true;
  await cli.close({ code: 1000, reason, awaitPending: true }); // calls in flight get their answers
  if (reboot) {
    state.registration = 'None';
    await sleep(300); // "booting"
  }
  await connect({ fromTop: reboot });
  await resume(reboot ? reason : 'PowerUp');
  reconnected?.();
}
let reconnected; // resolve() of the wait for the reconnect with a new certificate

// A02 / A03: send the CSR (SignCertificate, ChargingStationCertificate); the CSMS signs it and sends
// CertificateSigned, which writes the certificate and reconnects with it (no Basic auth: at
// profile 3 the certificate is the station's proof).
async function signCertificate() {
  const csr = readFileSync(opts.csrFile, 'utf8');
  const res = await send('SignCertificate', { csr, certificateType: 'ChargingStationCertificate' });
  emit('sign_certificate', { status: res.status });
  if (res.status !== 'Accepted') throw fail('SignCertificate not accepted', 7);
}

async function certificateRound() {
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(fail(`no CertificateSigned within ${opts.certTimeoutMs} ms`, 7)), opts.certTimeoutMs);
    reconnected = () => {
      clearTimeout(timer);
      reconnected = undefined;
      resolve();
    };
  });
  await signCertificate();
  await done;
}

// After a (re)connect: an Accepted station goes on (2.0.1 has no boot after a mere reconnect);
// otherwise it boots, or the boot loop already running (Pending) is woken to boot again now.
async function resume(bootReason) {
  if (state.registration === 'Accepted') {
    accepted.open();
    startHeartbeat();
  } else if (booting) {
    bootWake?.();
  } else {
    await boot(bootReason);
  }
}

// The network goes away for `ms` (no close handshake) and comes back: what happens meanwhile is
// queued by `send` and goes out in order afterwards.
async function goOffline(ms) {
  emit('offline', { ms });
  closingOnPurpose = true;
  connected.close();
  accepted.close();
  stopHeartbeat();
  await cli.close({ force: true });
  await sleep(ms);
  await connect();
  emit('online', {});
  await resume('PowerUp');
}

cli.on('close', ({ code, reason }) => {
  if (closingOnPurpose || quitting) return;
  // The CSMS went away: come back like a real station (no new boot when it was Accepted).
  emit('disconnected', { code, reason: String(reason) });
  connected.close();
  accepted.close();
  stopHeartbeat();
  later(async () => {
    await sleep(500);
    await connect();
    await resume('PowerUp');
  });
});

// ------------------------------------------------------------------------------------------ boot
let bootWake; // resolve() of the Pending wait: a TriggerMessage(BootNotification) arrived
let bootTriggered = false;
let booting = false;
let heartbeatTimer;

async function boot(reason) {
  booting = true;
  try {
    return await bootLoop(reason);
  } finally {
    booting = false;
  }
}

async function bootLoop(reason) {
  for (let attempt = 1; attempt <= 60; attempt++) {
    const sent = bootTriggered ? 'Triggered' : reason;
    bootTriggered = false;
    const res = await send(
      'BootNotification',
      {
        reason: sent,
        chargingStation: { model: MODEL, vendorName: VENDOR, serialNumber: SERIAL, firmwareVersion: state.firmwareVersion },
      },
      { beforeAccepted: true },
    );
    state.registration = res.status;
    emit('boot', { status: res.status, interval: res.interval, attempt, reason: sent });
    if (res.status === 'Accepted') {
      if (res.interval > 0) model.update('OCPPCommCtrlr', 'HeartbeatInterval', res.interval);
      accepted.open();
      startHeartbeat();
      await statusNotifications();
      return res;
    }
    // Pending / Rejected: again after `interval` (capped for the test), or at once when triggered.
    await new Promise((resolve) => {
      bootWake = resolve;
      setTimeout(resolve, Math.min(Math.max(res.interval, 1), 5) * 1000);
    });
    bootWake = undefined;
    await connected.wait(); // a password change may have us reconnecting right now
    if (state.registration === 'Accepted') return res; // booted on a reconnect meanwhile
  }
  throw new Error('BootNotification never Accepted');
}

function startHeartbeat() {
  stopHeartbeat();
  if (state.registration !== 'Accepted') return;
  const seconds = Number(setting('OCPPCommCtrlr', 'HeartbeatInterval'));
  heartbeatTimer = setInterval(() => heartbeat().catch(() => {}), seconds * 1000);
  heartbeatTimer.unref();
}

function stopHeartbeat() {
  if (heartbeatTimer) clearInterval(heartbeatTimer);
  heartbeatTimer = undefined;
}

async function heartbeat() {
  const res = await send('Heartbeat', {});
  emit('heartbeat', { current_time: res.currentTime });
}

// ------------------------------------------------------------------------------ connector status
function connectorStatus() {
  if (!state.operative) return 'Unavailable';
  if (state.plugged) return 'Occupied';
  if (state.reservation) return 'Reserved';
  return 'Available';
}

async function statusNotifications() {
  const status = connectorStatus();
  for (const component of [station, evse, connector]) {
    model.update(component.name, 'AvailabilityState', status, { evse: component.evse });
  }
  await send('StatusNotification', { timestamp: now(), connectorStatus: status, evseId: EVSE, connectorId: CONNECTOR });
  emit('status', { status });
}

// ---------------------------------------------------------------------------------- meter values
function chargingCurrentA() {
  const tx = state.tx;
  if (!tx || tx.ended || tx.chargingState !== 'Charging') return 0;
  return Math.min(composite().amps, CAR_MAX_A);
}

function phasesInUse() {
  return Math.min(composite().phases, 3);
}

function advanceEnergy() {
  const at = Date.now();
  const seconds = opts.simSeconds ?? (at - state.lastSampleAt) / 1000;
  state.lastSampleAt = at;
  state.energyWh += (VOLTAGE * chargingCurrentA() * phasesInUse() * seconds) / 3600;
}

// One meterValue with the measurands asked for, in 2.0.1 form (numbers, unitOfMeasure).
function meterValue(context, wanted) {
  const currentA = round1(chargingCurrentA());
  const phases = phasesInUse();
  const offered = composite();
  const sv = (value, measurand, unit, extra = {}) => ({ value, context, measurand, location: 'Outlet', unitOfMeasure: { unit }, ...extra });
  const energy = sv(Math.round(state.energyWh), 'Energy.Active.Import.Register', 'Wh');
  if (setting('SampledDataCtrlr', 'SignReadings') === 'true') energy.signedMeterValue = signed(energy.value);
  const phaseNames = ['L1', 'L2', 'L3'];
  const values = {
    'Energy.Active.Import.Register': [energy],
    'Power.Active.Import': [sv(Math.round(VOLTAGE * currentA * phases), 'Power.Active.Import', 'W')],
    'Power.Offered': [sv(Math.round(VOLTAGE * offered.amps * offered.phases), 'Power.Offered', 'W')],
    'Current.Import': phaseNames.map((phase, i) => sv(i < phases ? currentA : 0, 'Current.Import', 'A', { phase })),
    'Current.Offered': [sv(offered.amps, 'Current.Offered', 'A')],
    Voltage: phaseNames.map((phase) => sv(VOLTAGE, 'Voltage', 'V', { phase: `${phase}-N` })),
    Frequency: [sv(50, 'Frequency', 'Hz')],
  };
  const sampledValue = wanted.flatMap((m) => values[m] ?? []);
  return sampledValue.length ? [{ timestamp: now(), sampledValue }] : undefined;
}

function signed(registerWh) {
  // Not a real signature: an OCMF-shaped record, as kept by the CSMS "as it came".
  const data = `OCMF|{"RD":[{"RV":${registerWh / 1000},"RU":"kWh"}]}|{"SA":"ECDSA-secp256r1-SHA256","SD":"00"}`;
  return {
    signedMeterData: Buffer.from(data).toString('base64'),
    signingMethod: 'ECDSA-secp256r1-SHA256',
    encodingMethod: 'OCMF',
    publicKey: Buffer.from('sim-public-key').toString('base64'),
  };
}

// ---------------------------------------------------------------------------------- transactions
// One TransactionEvent; seqNo counts per transaction from 0 (Started).
async function transactionEvent(eventType, triggerReason, { context, measurandsKey, extra = {}, info = {} } = {}) {
  const tx = state.tx;
  advanceEnergy();
  const params = {
    eventType,
    timestamp: now(),
    triggerReason,
    seqNo: tx.seqNo++,
    transactionInfo: { transactionId: tx.id, ...info },
    ...extra,
  };
  if (!connected.isOpen) params.offline = true; // queued while the link is down
  if (tx.sentState !== tx.chargingState || eventType !== 'Updated') params.transactionInfo.chargingState = tx.chargingState;
  tx.sentState = tx.chargingState;
  if (context) {
    const mv = meterValue(context, measurands(measurandsKey));
    if (mv) params.meterValue = mv;
  }
  if (tx.chargingState === 'Charging') params.numberOfPhasesUsed = phasesInUse();
  const line = {
    event_type: eventType,
    trigger_reason: triggerReason,
    seq_no: params.seqNo,
    transaction_id: tx.id,
    charging_state: tx.chargingState,
    energy_wh: Math.round(state.energyWh),
    meter_start_wh: tx.meterStartWh,
    power_w: Math.round(VOLTAGE * round1(chargingCurrentA()) * phasesInUse()),
    current_a: round1(chargingCurrentA()),
    offered_a: composite().amps,
    evse: params.evse ?? null,
    stopped_reason: params.transactionInfo.stoppedReason ?? null,
    offline: params.offline ?? false,
  };
  const res = await send('TransactionEvent', params);
  emit('transaction_event', { ...line, id_token_status: res.idTokenInfo?.status ?? null });
  if (params.idToken && !res.idTokenInfo) {
    violation('TransactionEventResponse.idTokenInfo is required when the request contained an idToken', { seq_no: params.seqNo });
  }
  return res;
}

function newTransaction(fields) {
  state.tx = {
    id: randomUUID(),
    seqNo: 0,
    startedAt: Date.now(),
    meterStartWh: Math.round(state.energyWh),
    authorized: false,
    chargingState: 'EVConnected',
    sentState: undefined,
    ...fields,
  };
  if (state.reservation) clearReservation();
  return state.tx;
}

async function plugIn() {
  state.plugged = true;
  await statusNotifications();
  const evseRef = { id: EVSE, connectorId: CONNECTOR };
  if (!state.tx) {
    newTransaction({ chargingState: 'EVConnected' });
    await transactionEvent('Started', 'CablePluggedIn', {
      context: 'Transaction.Begin',
      measurandsKey: 'TxStartedMeasurands',
      extra: { evse: evseRef },
    });
    startMetering();
  } else {
    state.tx.chargingState = 'EVConnected';
    await transactionEvent('Updated', 'CablePluggedIn', { extra: { evse: evseRef } });
  }
}

async function unplug() {
  state.plugged = false;
  await statusNotifications();
  await afterIdle();
}

// The car charges when the transaction is authorized, the cable is in and the offer is enough.
function wantedChargingState() {
  const tx = state.tx;
  if (!state.plugged) return 'Idle';
  if (!tx.authorized) return 'EVConnected';
  return composite().amps >= MIN_CURRENT_A ? 'Charging' : 'SuspendedEVSE';
}

async function updateChargingState(triggerReason = 'ChargingStateChanged') {
  const tx = state.tx;
  if (!tx || tx.ended) return;
  const wanted = wantedChargingState();
  if (wanted === tx.chargingState) return;
  advanceEnergy(); // energy up to now at the old rate
  tx.chargingState = wanted;
  await transactionEvent('Updated', triggerReason, { context: 'Other', measurandsKey: 'TxUpdatedMeasurands' });
}

async function authorizeTransaction(idToken, triggerReason, info = {}) {
  const tx = state.tx;
  tx.authorized = true;
  tx.idToken = idToken;
  const res = await transactionEvent('Updated', triggerReason, { extra: { idToken }, info });
  if (res.idTokenInfo && res.idTokenInfo.status !== 'Accepted') {
    await endTransaction('Deauthorized', 'DeAuthorized');
    return false;
  }
  await updateChargingState();
  return true;
}

let meterTimer;
function startMetering() {
  if (meterTimer) return;
  meterTimer = setInterval(() => {
    const tx = state.tx;
    if (!tx || tx.ended) return stopMetering();
    transactionEvent('Updated', 'MeterValuePeriodic', { context: 'Sample.Periodic', measurandsKey: 'TxUpdatedMeasurands' })
      .then(() => tickWaiter?.())
      .catch((err) => emit('error', { where: 'meter', message: String(err?.message ?? err) }));
  }, opts.meterIntervalMs);
}

function stopMetering() {
  if (meterTimer) clearInterval(meterTimer);
  meterTimer = undefined;
}

// Resolves after `count` periodic samples, or when the transaction ends first.
let tickWaiter;
function periodicSamples(count) {
  let seen = 0;
  return new Promise((resolve) => {
    tickWaiter = (ended = false) => {
      if (ended || ++seen >= count) {
        tickWaiter = undefined;
        resolve();
      }
    };
  });
}

async function endTransaction(triggerReason, stoppedReason) {
  const tx = state.tx;
  if (!tx || tx.ended) return;
  tx.ended = true;
  stopMetering();
  advanceEnergy();
  tx.chargingState = state.plugged ? 'EVConnected' : 'Idle';
  await transactionEvent('Ended', triggerReason, {
    context: 'Transaction.End',
    measurandsKey: 'TxEndedMeasurands',
    info: { stoppedReason },
  });
  profiles.transactionEnded(tx.id);
  state.tx = undefined;
  noteLimitChange();
  if (state.plugged) {
    await sleep(200); // the driver takes the cable
    await unplug();
  } else {
    await afterIdle();
  }
  txEndWaiter?.();
  tickWaiter?.(true);
}

let txEndWaiter;
const transactionEnded = () =>
  state.tx ? new Promise((resolve) => {
    txEndWaiter = resolve;
  }) : Promise.resolve();

// Things that wait for the station to be idle: an availability change, a scheduled reset.
async function afterIdle() {
  if (state.tx || state.plugged) return;
  if (state.pendingInoperative) {
    state.pendingInoperative = false;
    state.operative = false;
    await statusNotifications();
  }
  if (state.resetScheduled) {
    state.resetScheduled = false;
    later(() => rebootStation('RemoteReset'));
  }
}

// A limit that may have changed (profile set / cleared / updated): the car follows it.
function noteLimitChange() {
  const { amps, phases } = composite();
  if (amps !== state.lastOfferedA) {
    state.lastOfferedA = amps;
    emit('composite', { offered_a: amps, phases });
    const tx = state.tx;
    if (tx && !tx.ended && tx.authorized && state.plugged) {
      later(async () => {
        const before = tx.chargingState;
        await updateChargingState();
        if (tx === state.tx && !tx.ended && tx.chargingState === before && before === 'Charging') {
          await transactionEvent('Updated', 'ChargingRateChanged', { context: 'Other', measurandsKey: 'TxUpdatedMeasurands' });
        }
      }, 20);
    }
  }
  limitWaiter?.();
}

let limitWaiter;
function waitForLimit(sinceMs) {
  return new Promise((resolve, reject) => {
    const check = () => {
      const { amps } = composite();
      const matches = opts.expectLimit === undefined ? state.lastProfileAt > sinceMs : Math.abs(amps - opts.expectLimit) < 0.05;
      if (matches || !state.tx || state.tx.ended) {
        clearTimeout(timer);
        limitWaiter = undefined;
        resolve(amps);
      }
    };
    const timer = setTimeout(() => {
      limitWaiter = undefined;
      reject(fail(`no limit change within ${opts.limitTimeoutMs} ms (composite ${composite().amps} A)`, 2));
    }, opts.limitTimeoutMs);
    limitWaiter = check;
    check();
  });
}

// ------------------------------------------------------------------------------ reboot / reset
async function rebootStation(reason) {
  emit('reset', { reason });
  if (state.tx) await endTransaction(reason === 'FirmwareUpdate' ? 'AbnormalCondition' : 'ResetCommand', 'ImmediateReset');
  // What a reboot forgets: transaction profiles (ended above), reservations; the rest is in flash.
  if (state.reservation) clearReservation();
  await reconnect(reason, { reboot: true });
  await notify('SecurityEventNotification', { type: 'ResetOrReboot', timestamp: now(), techInfo: reason });
}

// --------------------------------------------------------------------------------- reservations
function clearReservation() {
  clearTimeout(state.reservation.timer);
  state.reservation = undefined;
}

// ----------------------------------------------------------------------------- incoming calls
// Why a SetNetworkProfile cannot be taken (a reasonCode), or null.
function networkProfileProblem(slot, data) {
  if (!NETWORK_SLOTS.split(',').includes(String(slot))) return 'InvalidSlot';
  if (slot === network.active) return 'SlotInUse'; // the connection in use is not replaced under it
  if (data.ocppTransport !== 'JSON') return 'UnsupportedTransport';
  if (protocol !== OCPP21 && data.ocppVersion !== 'OCPP20') return 'UnsupportedVersion';
  if (!INTERFACES.includes(data.ocppInterface)) return 'UnknownInterface';
  let url;
  try {
    url = new URL(data.ocppCsmsUrl);
  } catch {
    return 'InvalidUrl';
  }
  const profile = data.securityProfile;
  if (![1, 2, 3].includes(profile)) return 'InvalidProfile';
  if (url.protocol !== (profile === 1 ? 'ws:' : 'wss:')) return 'UrlProfileMismatch';
  if (profile >= 2 && !csmsRoots().length) return 'NoCsmsRoot';
  if (profile === 3 && !hasClientCertificate(opts)) return 'NoClientCertificate';
  return null;
}

// Whether the leaf of `chainPem` is for the key of our CSR (--key).
function certificateForOurKey(chainPem) {
  try {
    return new X509Certificate(chainPem).checkPrivateKey(createPrivateKey(readFileSync(opts.keyFile)));
  } catch {
    return false;
  }
}

function rpcError(code, message) {
  return createRPCError(code, message);
}

function received(action, params, extra = {}) {
  emit('received', { action, params, ...extra });
}

function requireAccepted(action) {
  // B02.FR.?? (2.0.1 part 2, B02): while Pending the CSMS must not start or stop transactions;
  // the station answers SecurityError.
  if (state.registration !== 'Accepted') {
    violation(`${action} while the station is not Accepted (B02)`, { registration: state.registration });
    throw rpcError('SecurityError', `${action} not allowed while ${state.registration}`);
  }
}

function checkItemsPerMessage(action, items) {
  const max = Number(setting('DeviceDataCtrlr', 'ItemsPerMessage', action));
  if (items > max) {
    violation(`${action} with ${items} items, more than ItemsPerMessage ${max}`);
    throw rpcError('OccurrenceConstraintViolation', `at most ${max} items per ${action}`);
  }
}

function chunk(items, size) {
  const parts = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}

async function sendReport(requestId, reportData) {
  const size = Number(setting('DeviceDataCtrlr', 'ItemsPerMessage', 'GetReport'));
  const parts = chunk(reportData, size);
  for (let seqNo = 0; seqNo < parts.length; seqNo++) {
    const tbc = seqNo < parts.length - 1;
    await send('NotifyReport', { requestId, generatedAt: now(), seqNo, tbc, reportData: parts[seqNo] }, { beforeAccepted: true });
    emit('report', { request_id: requestId, seq_no: seqNo, tbc, items: parts[seqNo].length });
  }
}

function profileSummary(profile) {
  const schedule = profile.chargingSchedule[0];
  const period = schedule.chargingSchedulePeriod[0];
  return {
    profile_id: profile.id,
    purpose: profile.chargingProfilePurpose,
    kind: profile.chargingProfileKind,
    stack_level: profile.stackLevel,
    limit: period?.limit ?? null,
    unit: schedule.chargingRateUnit,
    number_phases: period?.numberPhases ?? null,
    duration: schedule.duration ?? null,
    transaction_id: profile.transactionId ?? null,
  };
}

const handlers = {
  // --- provisioning (B) --------------------------------------------------------------------------
  GetBaseReport: ({ params }) => {
    const data = model.baseReport(params.reportBase);
    received('GetBaseReport', params, { items: data.length });
    if (!data.length) return { status: 'EmptyResultSet' };
    later(() => sendReport(params.requestId, data));
    return { status: 'Accepted' };
  },
  GetReport: ({ params }) => {
    const data = model.report(params.componentVariable, params.componentCriteria);
    received('GetReport', params, { items: data.length });
    if (!data.length) return { status: 'EmptyResultSet' };
    later(() => sendReport(params.requestId, data));
    return { status: 'Accepted' };
  },
  GetVariables: ({ params }) => {
    checkItemsPerMessage('GetVariables', params.getVariableData.length);
    const getVariableResult = params.getVariableData.map((item) => model.get(item));
    received('GetVariables', params, { results: getVariableResult.map((r) => [r.component.name, r.variable.name, r.attributeStatus]) });
    return { getVariableResult };
  },
  SetVariables: ({ params }) => {
    checkItemsPerMessage('SetVariables', params.setVariableData.length);
    state.newPassword = undefined;
    const setVariableResult = params.setVariableData.map((item) => {
      const result = model.set(item);
      // The slot order takes effect at the next boot (B09).
      const priority = item.variable.name === 'NetworkConfigurationPriority';
      return priority && result.attributeStatus === 'Accepted' ? { ...result, attributeStatus: 'RebootRequired' } : result;
    });
    const shown = params.setVariableData.map((item) =>
      item.variable.name === 'BasicAuthPassword' ? { ...item, attributeValue: `<${item.attributeValue.length} characters>` } : item,
    );
    received('SetVariables', { setVariableData: shown }, {
      results: setVariableResult.map((r) => [r.component.name, r.variable.name, r.attributeStatus, r.attributeStatusInfo?.reasonCode ?? null]),
    });
    if (state.newPassword) {
      // A01: answer, then drop the connection and come back with the new password.
      state.password = state.newPassword;
      state.newPassword = undefined;
      connected.close();
      accepted.close();
      later(() => reconnect('BasicAuthPassword changed'));
      later(() => notify('SecurityEventNotification', { type: 'ReconfigurationOfSecurityParameters', timestamp: now(), techInfo: 'BasicAuthPassword' }), 100);
    }
    return { setVariableResult };
  },

  // --- authorization (C, D) ----------------------------------------------------------------------
  SendLocalList: ({ params }) => {
    const { versionNumber, updateType, localAuthorizationList = [] } = params;
    const answer = (status) => {
      received('SendLocalList', { versionNumber, updateType, entries: localAuthorizationList.length }, { status });
      return { status };
    };
    if (!enabled('LocalAuthListCtrlr')) return answer('Failed');
    if (versionNumber <= 0) {
      violation('SendLocalList.versionNumber must be > 0 (D01)', { versionNumber });
      return answer('Failed');
    }
    if (localAuthorizationList.length > Number(setting('LocalAuthListCtrlr', 'ItemsPerMessage'))) return answer('Failed');
    if (updateType === 'Differential' && versionNumber <= state.localList.version) return answer('VersionMismatch');
    const entries = updateType === 'Full' ? new Map() : new Map(state.localList.entries);
    for (const item of localAuthorizationList) {
      const key = `${item.idToken.type}:${item.idToken.idToken}`;
      if (item.idTokenInfo) entries.set(key, item);
      else entries.delete(key); // Differential: no idTokenInfo = remove
    }
    if (entries.size > 100) return answer('Failed');
    state.localList = { version: versionNumber, entries };
    return answer('Accepted');
  },
  GetLocalListVersion: ({ params }) => {
    received('GetLocalListVersion', params, { version: state.localList.version });
    return { versionNumber: state.localList.version };
  },
  ClearCache: ({ params }) => {
    const status = enabled('AuthCacheCtrlr') ? 'Accepted' : 'Rejected';
    received('ClearCache', params, { status });
    return { status };
  },

  // --- remote control (F) and availability (G) ---------------------------------------------------
  RequestStartTransaction: ({ params }) => {
    requireAccepted('RequestStartTransaction');
    const evseId = params.evseId ?? EVSE;
    const answer = (status, extra = {}) => {
      received('RequestStartTransaction', params, { status, ...extra });
      return { status, ...extra };
    };
    if (evseId !== EVSE || !state.operative) return answer('Rejected');
    if (state.tx?.authorized) return answer('Rejected');
    const profile = params.chargingProfile;
    if (profile && (profile.chargingProfilePurpose !== 'TxProfile' || profile.transactionId !== undefined)) {
      violation('RequestStartTransaction.chargingProfile must be a TxProfile without transactionId (K05)');
      return answer('Rejected');
    }
    if (state.tx) {
      // A transaction started at plug-in waits for authorization: the remote start gives it.
      const tx = state.tx;
      later(async () => {
        if (profile) installTxProfile(profile);
        tx.remoteStartId = params.remoteStartId;
        await authorizeTransaction(params.idToken, 'RemoteStart', { remoteStartId: params.remoteStartId });
      });
      return answer('Accepted', { transactionId: tx.id });
    }
    later(() => remoteStart(params));
    return answer('Accepted');
  },
  RequestStopTransaction: ({ params }) => {
    requireAccepted('RequestStopTransaction');
    const known = state.tx !== undefined && !state.tx.ended && state.tx.id === params.transactionId;
    const status = known ? 'Accepted' : 'Rejected';
    received('RequestStopTransaction', params, { status });
    if (known) later(() => endTransaction('RemoteStop', 'Remote'));
    return { status };
  },
  UnlockConnector: ({ params }) => {
    let status = 'Unlocked';
    if (params.evseId !== EVSE || params.connectorId !== CONNECTOR) status = 'UnknownConnector';
    else if (state.tx?.authorized) status = 'OngoingAuthorizedTransaction';
    received('UnlockConnector', params, { status });
    return { status };
  },
  Reset: ({ params }) => {
    let status;
    if (params.evseId !== undefined || params.type === 'ImmediateAndResume') status = 'Rejected';
    else if (params.type === 'OnIdle' && (state.tx || state.plugged)) status = 'Scheduled';
    else status = 'Accepted';
    received('Reset', params, { status });
    if (status === 'Scheduled') state.resetScheduled = true;
    if (status === 'Accepted') later(() => rebootStation('RemoteReset'), 100);
    return { status };
  },
  ChangeAvailability: ({ params }) => {
    const { operationalStatus, evse: target } = params;
    let status = 'Accepted';
    if (target && (target.id !== EVSE || (target.connectorId !== undefined && target.connectorId !== CONNECTOR))) status = 'Rejected';
    else if (operationalStatus === 'Inoperative' && state.tx) status = 'Scheduled';
    received('ChangeAvailability', params, { status });
    if (status === 'Scheduled') state.pendingInoperative = true;
    if (status === 'Accepted') {
      state.pendingInoperative = false;
      const operative = operationalStatus === 'Operative';
      if (operative !== state.operative) {
        state.operative = operative;
        later(() => statusNotifications());
      }
    }
    return { status };
  },
  TriggerMessage: ({ params }) => {
    const { requestedMessage, evse: target } = params;
    const answer = (status) => {
      received('TriggerMessage', params, { status });
      return { status };
    };
    if (target && target.id !== EVSE && target.id !== 0) return answer('Rejected');
    switch (requestedMessage) {
      case 'BootNotification':
        // F06.FR.17: once Accepted, a triggered BootNotification is Rejected.
        if (state.registration === 'Accepted') return answer('Rejected');
        bootTriggered = true;
        if (bootWake) later(async () => bootWake?.());
        return answer('Accepted');
      case 'Heartbeat':
        later(() => heartbeat());
        return answer('Accepted');
      case 'StatusNotification':
        later(() => statusNotifications());
        return answer('Accepted');
      case 'MeterValues':
        later(async () => {
          const measured = setting('AlignedDataCtrlr', 'Measurands').split(',').filter(Boolean);
          await send('MeterValues', { evseId: EVSE, meterValue: meterValue('Trigger', measured.length ? measured : MEASURANDS) });
        });
        return answer('Accepted');
      case 'TransactionEvent':
        if (!state.tx) return answer('Rejected');
        later(() => transactionEvent('Updated', 'Trigger', { context: 'Trigger', measurandsKey: 'TxUpdatedMeasurands' }));
        return answer('Accepted');
      case 'FirmwareStatusNotification':
        later(() => firmwareStatus(state.firmwareJob ? state.firmwareJob.status : 'Idle'));
        return answer('Accepted');
      case 'LogStatusNotification':
        later(() => logStatus(state.logJob ? state.logJob.status : 'Idle'));
        return answer('Accepted');
      case 'SignChargingStationCertificate':
        if (!opts.csrFile) return answer('Rejected');
        later(() => signCertificate());
        return answer('Accepted');
      default:
        return answer('NotImplemented');
    }
  },

  // --- reservations (H) --------------------------------------------------------------------------
  ReserveNow: ({ params }) => {
    let status = 'Accepted';
    if (!enabled('ReservationCtrlr')) status = 'Rejected';
    else if (params.evseId === undefined || params.evseId !== EVSE) status = 'Rejected';
    else if (!state.operative) status = 'Unavailable';
    else if (state.tx || state.plugged || (state.reservation && state.reservation.id !== params.id)) status = 'Occupied';
    received('ReserveNow', params, { status });
    if (status === 'Accepted') {
      if (state.reservation) clearReservation();
      const ms = Math.min(Math.max(Date.parse(params.expiryDateTime) - Date.now(), 0), 3600000);
      const timer = setTimeout(() => {
        clearReservation();
        later(async () => {
          await send('ReservationStatusUpdate', { reservationId: params.id, reservationUpdateStatus: 'Expired' });
          await statusNotifications();
        });
      }, ms);
      timer.unref();
      state.reservation = { id: params.id, timer };
      later(() => statusNotifications());
    }
    return { status };
  },
  CancelReservation: ({ params }) => {
    const known = state.reservation?.id === params.reservationId;
    const status = known ? 'Accepted' : 'Rejected';
    received('CancelReservation', params, { status });
    if (known) {
      clearReservation();
      later(() => statusNotifications());
    }
    return { status };
  },

  // --- transactions (E) --------------------------------------------------------------------------
  GetTransactionStatus: ({ params }) => {
    const result = { messagesInQueue: false };
    if (params.transactionId !== undefined) result.ongoingIndicator = state.tx?.id === params.transactionId;
    received('GetTransactionStatus', params, result);
    return result;
  },

  // --- smart charging (K) ------------------------------------------------------------------------
  SetChargingProfile: ({ params }) => {
    const { evseId, chargingProfile } = params;
    advanceEnergy(); // energy so far at the old rate
    for (const schedule of chargingProfile.chargingSchedule) {
      for (const period of schedule.chargingSchedulePeriod) {
        if (period.limit !== undefined && Math.abs(period.limit * 10 - Math.round(period.limit * 10)) > 1e-6) {
          violation('chargingSchedulePeriod.limit accepts at most one digit fraction (2.0.1 ChargingSchedulePeriodType)', { limit: period.limit });
        }
      }
    }
    const result = profiles.install(evseId, chargingProfile);
    received('SetChargingProfile', params, {
      status: result.status,
      reason: result.reason ?? null,
      evse_id: evseId,
      ...profileSummary(chargingProfile),
      composite_a: composite().amps,
    });
    if (result.status === 'Accepted') {
      state.lastProfileAt = Date.now();
      noteLimitChange();
      return { status: 'Accepted' };
    }
    return { status: 'Rejected', statusInfo: { reasonCode: result.reason } };
  },
  ClearChargingProfile: ({ params }) => {
    advanceEnergy();
    const status = profiles.clear(params);
    received('ClearChargingProfile', params, { status, composite_a: composite().amps });
    noteLimitChange();
    return { status };
  },
  GetChargingProfiles: ({ params }) => {
    const reports = profiles.select(params);
    const status = reports.length ? 'Accepted' : 'NoProfiles';
    received('GetChargingProfiles', params, { status, evses: reports.length });
    if (reports.length) {
      later(async () => {
        for (let i = 0; i < reports.length; i++) {
          await send('ReportChargingProfiles', {
            requestId: params.requestId,
            chargingLimitSource: 'CSO',
            evseId: reports[i].evseId,
            chargingProfile: reports[i].profiles,
            tbc: i < reports.length - 1,
          });
        }
      });
    }
    return { status };
  },
  GetCompositeSchedule: ({ params }) => {
    const units = setting('SmartChargingCtrlr', 'RateUnit').split(',');
    const unit = params.chargingRateUnit ?? (units.includes('A') ? 'A' : 'W');
    const known = params.evseId === 0 || params.evseId === EVSE;
    // K08.FR.05: an unsupported chargingRateUnit is Rejected.
    if (!known || !units.includes(unit)) {
      received('GetCompositeSchedule', params, { status: 'Rejected' });
      return { status: 'Rejected', statusInfo: { reasonCode: known ? 'UnsupportedRateUnit' : 'UnknownEVSE' } };
    }
    const schedule = profiles.compositeSchedule(params.evseId, params.duration, unit);
    received('GetCompositeSchedule', params, { status: 'Accepted', composite_a: composite().amps, periods: schedule.chargingSchedulePeriod });
    return { status: 'Accepted', schedule };
  },
  // 2.1: dynamic profiles and priority charging
  UpdateDynamicSchedule: ({ params }) => {
    advanceEnergy();
    const result = profiles.updateDynamic(params.chargingProfileId, params.scheduleUpdate);
    received('UpdateDynamicSchedule', params, { status: result.status, composite_a: composite().amps });
    if (result.status === 'Accepted') noteLimitChange();
    return result.status === 'Accepted' ? { status: 'Accepted' } : { status: 'Rejected', statusInfo: { reasonCode: result.reason } };
  },
  UsePriorityCharging: ({ params }) => {
    let status = 'Accepted';
    const tx = state.tx;
    if (!tx || tx.id !== params.transactionId) status = 'Rejected';
    else if (!profiles.installed.some((e) => e.profile.chargingProfilePurpose === 'PriorityCharging')) status = 'NoProfile';
    received('UsePriorityCharging', params, { status });
    if (status === 'Accepted') {
      tx.priority = params.activate;
      noteLimitChange();
    }
    return { status };
  },

  // --- firmware and logs (L, N) ------------------------------------------------------------------
  UpdateFirmware: ({ params }) => {
    const status = state.firmwareJob ? 'AcceptedCanceled' : 'Accepted';
    if (state.firmwareJob) state.firmwareJob.cancelled = true;
    received('UpdateFirmware', params, { status });
    const job = { requestId: params.requestId, cancelled: false, status: 'Idle' };
    state.firmwareJob = job;
    later(() => updateFirmware(job, params.firmware));
    return { status };
  },
  GetLog: ({ params }) => {
    const status = state.logJob ? 'AcceptedCanceled' : 'Accepted';
    if (state.logJob) state.logJob.cancelled = true;
    const filename = `${opts.identity}-${params.logType}-${params.requestId}.log`;
    received('GetLog', params, { status, filename });
    const job = { requestId: params.requestId, cancelled: false, status: 'Idle' };
    state.logJob = job;
    later(() => uploadLog(job));
    return { status, filename };
  },

  // --- security (A, B09, M) ----------------------------------------------------------------------
  SetNetworkProfile: ({ params }) => {
    const { configurationSlot: slot, connectionData: data } = params;
    const reason = networkProfileProblem(slot, data);
    const status = reason ? 'Rejected' : 'Accepted';
    received('SetNetworkProfile', params, { status, reason });
    if (reason) return { status, statusInfo: { reasonCode: reason } };
    network.slots.set(slot, { url: data.ocppCsmsUrl, securityProfile: data.securityProfile, set: true });
    return { status };
  },
  CertificateSigned: ({ params }) => {
    const chain = params.certificateChain;
    const type = params.certificateType ?? 'ChargingStationCertificate';
    const ok = type === 'ChargingStationCertificate' && Boolean(opts.csrFile) && certificateForOurKey(chain);
    const status = ok ? 'Accepted' : 'Rejected';
    received('CertificateSigned', { certificateType: type, certificates: (chain.match(/BEGIN CERTIFICATE/g) ?? []).length }, { status });
    if (!ok) return { status };
    storeCertificate(opts, chain);
    emit('certificate_signed', { chain_length: chain.length });
    const active = network.slots.get(network.active);
    if (active.set ? active.securityProfile !== 3 : !opts.url.startsWith('wss://')) {
      // Not connected with a certificate: kept for a profile-3 network profile (A05).
      later(() => notify('SecurityEventNotification', { type: 'ReconfigurationOfSecurityParameters', timestamp: now(), techInfo: 'ChargingStationCertificate' }));
      return { status };
    }
    // Answer, then come back with the certificate (and without the password).
    connected.close();
    accepted.close();
    if (!active.set) state.password = undefined; // a network profile keeps it for its other slots
    later(() => reconnect('CertificateSigned'));
    later(() => notify('SecurityEventNotification', { type: 'ReconfigurationOfSecurityParameters', timestamp: now(), techInfo: 'ChargingStationCertificate' }), 100);
    return { status };
  },
  InstallCertificate: ({ params }) => {
    let status = 'Accepted';
    try {
      const certificate = new X509Certificate(params.certificate);
      if (!certificate.ca) status = 'Rejected'; // a root must be a CA certificate
    } catch {
      status = 'Rejected';
    }
    received('InstallCertificate', { certificateType: params.certificateType }, { status });
    if (status === 'Accepted') state.certificates.push(params);
    return { status };
  },

  // --- data transfer (P) -------------------------------------------------------------------------
  DataTransfer: ({ params }) => {
    const known = params.vendorId === DATA_TRANSFER_VENDOR;
    const status = known ? 'Accepted' : 'UnknownVendorId';
    received('DataTransfer', params, { status });
    return known ? { status, data: { echo: params.data ?? null, messageId: params.messageId ?? null } } : { status };
  },
};

function installTxProfile(profile) {
  const result = profiles.install(EVSE, { ...profile, transactionId: state.tx.id });
  emit('received', { action: 'RequestStartTransaction.chargingProfile', status: result.status, reason: result.reason ?? null, ...profileSummary(profile) });
  noteLimitChange();
}

// F01/F02: the remote start authorizes; the transaction starts (TxStartPoint Authorized) before the
// cable is in, then the driver plugs in and the car charges.
async function remoteStart(params) {
  if (setting('AuthCtrlr', 'AuthorizeRemoteStart') === 'true') {
    const auth = await send('Authorize', { idToken: params.idToken });
    emit('authorize', { id_token: params.idToken.idToken, status: auth.idTokenInfo.status, remote: true });
    if (auth.idTokenInfo.status !== 'Accepted') return;
  }
  const tx = newTransaction({
    authorized: true,
    idToken: params.idToken,
    remoteStartId: params.remoteStartId,
    chargingState: state.plugged ? 'EVConnected' : 'Idle',
  });
  if (params.chargingProfile) installTxProfile(params.chargingProfile);
  await transactionEvent('Started', 'RemoteStart', {
    context: 'Transaction.Begin',
    measurandsKey: 'TxStartedMeasurands',
    extra: { idToken: params.idToken, evse: state.plugged ? { id: EVSE, connectorId: CONNECTOR } : { id: EVSE } },
    info: { remoteStartId: params.remoteStartId },
  });
  startMetering();
  if (!state.plugged) {
    await sleep(300);
    if (tx.ended) return;
    await plugIn();
  }
  await updateChargingState();
}

async function firmwareStatus(status, requestId) {
  const params = { status };
  if (requestId !== undefined) params.requestId = requestId;
  await send('FirmwareStatusNotification', params);
  emit('firmware_status', { status, request_id: requestId ?? null });
}

async function logStatus(status, requestId) {
  const params = { status };
  if (requestId !== undefined) params.requestId = requestId;
  await send('LogStatusNotification', params);
  emit('log_status', { status, request_id: requestId ?? null });
}

// L01: download (at retrieveDateTime), verify, install when idle, reboot, report Installed.
async function updateFirmware(job, firmware) {
  const step = async (status, ms = 100) => {
    if (job.cancelled) throw new Error('cancelled');
    job.status = status;
    await firmwareStatus(status, job.requestId);
    await sleep(ms);
  };
  try {
    const wait = Date.parse(firmware.retrieveDateTime) - Date.now();
    if (wait > 1000) await step('DownloadScheduled', Math.min(wait, 10000));
    await step('Downloading');
    await step('Downloaded');
    if (firmware.signature) await step('SignatureVerified');
    const installWait = firmware.installDateTime ? Date.parse(firmware.installDateTime) - Date.now() : 0;
    if (installWait > 1000 || state.tx) {
      await step('InstallScheduled', Math.min(Math.max(installWait, 0), 10000));
      await transactionEnded();
    }
    await step('Installing');
    await step('InstallRebooting');
    state.firmwareVersion = firmware.location.split('/').pop().replace(/\.(bin|img|tar|gz|zip)$/i, '') || `${state.firmwareVersion}+1`;
    await rebootStation('FirmwareUpdate');
    job.status = 'Installed';
    await firmwareStatus('Installed', job.requestId);
    await notify('SecurityEventNotification', { type: 'FirmwareUpdated', timestamp: now(), techInfo: state.firmwareVersion });
  } catch (err) {
    if (!job.cancelled) throw err;
  } finally {
    if (state.firmwareJob === job) state.firmwareJob = undefined;
  }
}

// N01: upload the log file.
async function uploadLog(job) {
  try {
    for (const status of ['Uploading', 'Uploaded']) {
      if (job.cancelled) return;
      job.status = status;
      await logStatus(status, job.requestId);
      await sleep(100);
    }
  } finally {
    if (state.logJob === job) state.logJob = undefined;
  }
}

function registerHandlers() {
  for (const [action, handler] of Object.entries(handlers)) cli.handle(action, handler);
  cli.handle(({ method, params }) => {
    received(method, params, { status: 'NotImplemented' });
    throw rpcError('NotImplemented', `${method} not implemented by the test station`);
  });
}

// ----------------------------------------------------------------------------------- the script
async function scriptedSession() {
  await sleep(opts.settleMs);
  await plugIn();
  const idToken = { idToken: opts.idToken, type: 'ISO14443' };
  const auth = await send('Authorize', { idToken });
  emit('authorize', { id_token: opts.idToken, status: auth.idTokenInfo.status });
  if (auth.idTokenInfo.status !== 'Accepted') throw fail('id token not accepted', 3);
  if (!(await authorizeTransaction(idToken, 'Authorized'))) throw fail('transaction not authorized', 3);
  await periodicSamples(opts.meterCount);

  const since = Date.now();
  emit('waiting_for_limit', { offered_a: composite().amps, expect_limit_a: opts.expectLimit ?? null });
  const offered = await waitForLimit(since);
  if (state.tx && !state.tx.ended) {
    emit('limit_changed', { offered_a: offered });
    await sleep(50); // the charging-rate event first
    await periodicSamples(1); // report the new rate
    if (opts.offlineMs > 0) {
      await goOffline(opts.offlineMs);
      await periodicSamples(1);
    }
  }
  if (opts.end === 'local') {
    await endTransaction('StopAuthorized', 'Local');
  } else {
    await transactionEnded();
  }
}

function untilQuit() {
  return new Promise((resolve) => {
    if (opts.lingerMs !== undefined) setTimeout(resolve, opts.lingerMs);
    const lines = createInterface({ input: process.stdin });
    lines.on('line', (line) => {
      if (line.trim() === 'quit') resolve();
    });
    lines.on('close', resolve);
  });
}

async function main() {
  watchWire(cli, wire);
  registerHandlers();
  await connect();
  await boot('PowerUp');
  await notify('SecurityEventNotification', { type: 'StartupOfTheDevice', timestamp: now() });
  await heartbeat();
  if (opts.csrFile && !hasClientCertificate(opts) && opts.url.startsWith('wss://')) await certificateRound();
  if (!opts.noSession) await scriptedSession();
  emit('idle', { energy_wh: Math.round(state.energyWh) });
  await untilQuit();
  quitting = true;
  // Leave cleanly: no transaction stays open behind us.
  if (state.tx) await endTransaction('StopAuthorized', 'Local');
  await sleep(100);
  closingOnPurpose = true;
  stopHeartbeat();
  stopMetering();
  // Nothing new goes out (a follow-up still due waits for good); what is in flight is answered.
  connected.close();
  accepted.close();
  await cli.close({ code: 1000, reason: 'station done', awaitPending: true });
  emit('done', { strict_failures: wire.strict, violations });
  if (wire.strict) return 4;
  return violations ? 5 : 0;
}

runMain(main);
