// The charging profiles an OCPP 2.x charging station keeps, and the limit they compose to
// (2.0.1 part 2, K01 SetChargingProfile, K08 GetCompositeSchedule, K09 GetChargingProfiles,
// K10 ClearChargingProfile, "Smart charging" 3.x: stacking and combining; 2.1: Dynamic profiles and
// UpdateDynamicSchedule, PriorityCharging).
//
// Combination: per purpose, the valid profile with the highest stackLevel wins (an EVSE's own
// profile before one for EVSE 0 at the same level); the EVSE's limit is the minimum of the hardware,
// the ChargingStationMaxProfile and the TxProfile of its transaction (else the TxDefaultProfile).
import { activePeriod, recurringStart, round1, toAmps } from '../common.mjs';

const PURPOSES_201 = ['ChargingStationMaxProfile', 'TxDefaultProfile', 'TxProfile'];
const KINDS_201 = ['Absolute', 'Recurring', 'Relative'];

export class ChargingProfiles {
  // options: {evseIds, voltage, hardwareMaxA, rules() -> {rateUnits, maxStackLevel,
  //   periodsPerSchedule, maxEntries, phaseSwitching, supplyPhases, dynamic, additionalPurposes},
  //   transaction(evseId) -> {id, startedAt, priority} | undefined}
  constructor({ evseIds, voltage, hardwareMaxA, rules, transaction }) {
    this.evseIds = evseIds;
    this.voltage = voltage;
    this.hardwareMaxA = hardwareMaxA;
    this.rules = rules;
    this.transaction = transaction;
    this.installed = []; // {evseId, profile, installedAt}
  }

  get count() {
    return this.installed.length;
  }

  // ---------------------------------------------------------------------------- SetChargingProfile
  // {status: 'Accepted'} or {status: 'Rejected', reason} (reason: a statusInfo reasonCode).
  install(evseId, profile) {
    const reason = this.rejectReason(evseId, profile);
    if (reason) return { status: 'Rejected', reason };
    this.installed = this.installed.filter((e) => e.profile.id !== profile.id);
    this.installed.push({ evseId, profile: structuredClone(profile), installedAt: Date.now() });
    return { status: 'Accepted' };
  }

  rejectReason(evseId, profile) {
    const rules = this.rules();
    const purpose = profile.chargingProfilePurpose;
    if (evseId !== 0 && !this.evseIds.includes(evseId)) return 'UnknownEVSE';
    if (![...PURPOSES_201, ...rules.additionalPurposes].includes(purpose)) return 'UnsupportedPurpose';
    const kinds = rules.dynamic ? [...KINDS_201, 'Dynamic'] : KINDS_201;
    if (!kinds.includes(profile.chargingProfileKind)) return 'UnsupportedKind';
    if (purpose === 'ChargingStationMaxProfile' && evseId !== 0) return 'InvalidEvseId';
    if (purpose === 'TxProfile' || purpose === 'PriorityCharging') {
      if (evseId === 0) return 'InvalidEvseId';
      const tx = this.transaction(evseId);
      if (purpose === 'TxProfile' && (profile.transactionId === undefined || tx?.id !== profile.transactionId)) return 'TxNotFound';
    } else if (profile.transactionId !== undefined) {
      return 'InvalidValue'; // only a TxProfile names a transaction
    }
    if (profile.stackLevel < 0 || profile.stackLevel > rules.maxStackLevel) return 'InvalidStackLevel';
    if (profile.chargingProfileKind === 'Recurring' && !profile.recurrencyKind) return 'InvalidSchedule';
    // K01.FR.122 (2.1): dynUpdateInterval / dynUpdateTime only in a Dynamic profile.
    const dynamicFields = profile.dynUpdateInterval !== undefined || profile.dynUpdateTime !== undefined;
    if (dynamicFields && profile.chargingProfileKind !== 'Dynamic') return 'NotDynamic';
    for (const schedule of profile.chargingSchedule) {
      const reason = this.scheduleRejectReason(profile, schedule, rules);
      if (reason) return reason;
    }
    if (this.duplicate(evseId, profile)) return 'DuplicateProfile';
    const replaces = this.installed.some((e) => e.profile.id === profile.id);
    if (!replaces && this.installed.length >= rules.maxEntries) return 'TooManyProfiles';
    return null;
  }

  scheduleRejectReason(profile, schedule, rules) {
    const kind = profile.chargingProfileKind;
    // K01.FR.40 / FR.41: Absolute and Recurring need a startSchedule, Relative must not have one
    // (a Dynamic profile's start does not matter: its one period holds the last update).
    if ((kind === 'Absolute' || kind === 'Recurring') && !schedule.startSchedule) return 'InvalidSchedule';
    if (kind === 'Relative' && schedule.startSchedule) return 'InvalidSchedule';
    if (!rules.rateUnits.includes(schedule.chargingRateUnit)) return 'UnsupportedRateUnit'; // K01.FR.26
    const periods = schedule.chargingSchedulePeriod;
    if (periods.length > rules.periodsPerSchedule) return 'InvalidSchedule';
    if (kind === 'Dynamic' && periods.length !== 1) return 'InvalidSchedule';
    if (periods[0].startPeriod !== 0) return 'InvalidSchedule'; // K01.FR.31
    for (let i = 1; i < periods.length; i++) if (periods[i].startPeriod <= periods[i - 1].startPeriod) return 'InvalidSchedule'; // K01.FR.35
    for (const period of periods) {
      if (period.limit !== undefined && period.limit < 0) return 'InvalidValue';
      // K01.FR.45: no more phases than the supply has.
      if (period.numberPhases !== undefined && (period.numberPhases < 1 || period.numberPhases > rules.supplyPhases)) {
        return 'UnsupportedPhases';
      }
      // K01.FR.19 / FR.20: phaseToUse only with numberPhases 1 on an EVSE that can switch phases.
      if (period.phaseToUse !== undefined && (!rules.phaseSwitching || period.numberPhases !== 1)) return 'NoPhaseSwitching';
    }
    return null;
  }

  // Another profile (other id) of the same purpose, stack level and EVSE (and transaction) whose
  // validity overlaps: the station could not tell which one wins.
  duplicate(evseId, profile) {
    const from = (p) => (p.validFrom ? Date.parse(p.validFrom) : -Infinity);
    const to = (p) => (p.validTo ? Date.parse(p.validTo) : Infinity);
    return this.installed.some(
      ({ evseId: other, profile: p }) =>
        p.id !== profile.id &&
        other === evseId &&
        p.chargingProfilePurpose === profile.chargingProfilePurpose &&
        p.stackLevel === profile.stackLevel &&
        p.transactionId === profile.transactionId &&
        from(p) < to(profile) &&
        from(profile) < to(p),
    );
  }

  // -------------------------------------------------------------------------- ClearChargingProfile
  // K10: by id, else by criteria (all given fields must match); never the external constraints.
  clear({ chargingProfileId, chargingProfileCriteria: c }) {
    const before = this.installed.length;
    const matches = ({ evseId, profile }) => {
      if (profile.chargingProfilePurpose === 'ChargingStationExternalConstraints') return false;
      if (chargingProfileId !== undefined) return profile.id === chargingProfileId;
      if (!c) return true;
      return (
        (c.evseId === undefined || c.evseId === evseId) &&
        (c.chargingProfilePurpose === undefined || c.chargingProfilePurpose === profile.chargingProfilePurpose) &&
        (c.stackLevel === undefined || c.stackLevel === profile.stackLevel)
      );
    };
    this.installed = this.installed.filter((e) => !matches(e));
    return this.installed.length < before ? 'Accepted' : 'Unknown';
  }

  // A TxProfile ends with its transaction.
  transactionEnded(transactionId) {
    this.installed = this.installed.filter((e) => e.profile.transactionId === undefined || e.profile.transactionId !== transactionId);
  }

  // ---------------------------------------------------------------------------- GetChargingProfiles
  // [{evseId, profiles}] matching a GetChargingProfilesRequest (only CSO-set profiles here).
  select({ evseId, chargingProfile: c }) {
    const matches = (e) =>
      (evseId === undefined || e.evseId === evseId) &&
      (c.chargingProfilePurpose === undefined || c.chargingProfilePurpose === e.profile.chargingProfilePurpose) &&
      (c.stackLevel === undefined || c.stackLevel === e.profile.stackLevel) &&
      (!c.chargingProfileId?.length || c.chargingProfileId.includes(e.profile.id)) &&
      (!c.chargingLimitSource?.length || c.chargingLimitSource.includes('CSO'));
    const byEvse = new Map();
    for (const e of this.installed.filter(matches)) {
      if (!byEvse.has(e.evseId)) byEvse.set(e.evseId, []);
      byEvse.get(e.evseId).push(e.profile);
    }
    return [...byEvse.entries()].map(([id, profiles]) => ({ evseId: id, profiles }));
  }

  // ------------------------------------------------------------------------ UpdateDynamicSchedule
  updateDynamic(chargingProfileId, update) {
    const entry = this.installed.find((e) => e.profile.id === chargingProfileId);
    if (!entry || entry.profile.chargingProfileKind !== 'Dynamic') return { status: 'Rejected', reason: 'UnknownProfile' };
    const period = entry.profile.chargingSchedule[0].chargingSchedulePeriod[0];
    for (const [key, value] of Object.entries(update)) if (key !== 'customData') period[key] = value;
    entry.profile.dynUpdateTime = new Date().toISOString();
    return { status: 'Accepted' };
  }

  // ---------------------------------------------------------------------------------- composition
  scheduleStart(entry, schedule, at) {
    const { profile } = entry;
    switch (profile.chargingProfileKind) {
      case 'Absolute':
        return Date.parse(schedule.startSchedule);
      case 'Recurring':
        return recurringStart(Date.parse(schedule.startSchedule), profile.recurrencyKind, at);
      case 'Relative':
        return this.transaction(entry.evseId)?.startedAt ?? at;
      default: // Dynamic: its one period holds whatever the last update set
        return schedule.startSchedule ? Date.parse(schedule.startSchedule) : entry.installedAt;
    }
  }

  // {amps, phases} of one profile at `at`, or undefined when it does not apply then.
  limitAt(entry, at) {
    const { profile } = entry;
    if (profile.validFrom && at < Date.parse(profile.validFrom)) return undefined;
    if (profile.validTo && at >= Date.parse(profile.validTo)) return undefined;
    const schedule = profile.chargingSchedule[0];
    const period = activePeriod(schedule, this.scheduleStart(entry, schedule, at), at);
    if (!period || period.limit === undefined) return undefined;
    return { amps: toAmps(period.limit, schedule.chargingRateUnit, period.numberPhases, this.voltage), phases: period.numberPhases ?? 3 };
  }

  winning(purpose, evseIds, at, accept = () => true) {
    const candidates = this.installed
      .filter((e) => e.profile.chargingProfilePurpose === purpose && evseIds.includes(e.evseId) && accept(e))
      .map((e) => ({ e, limit: this.limitAt(e, at) }))
      .filter((c) => c.limit !== undefined)
      .sort((a, b) => b.e.profile.stackLevel - a.e.profile.stackLevel || b.e.evseId - a.e.evseId);
    return candidates[0]?.limit;
  }

  // The limit of an EVSE (0: the station) at `at`: {amps (per phase, 0.1 A), phases}.
  compositeAt(evseId, at = Date.now()) {
    const max = this.winning('ChargingStationMaxProfile', [0], at);
    let live;
    if (evseId !== 0) {
      const tx = this.transaction(evseId);
      if (tx?.priority) live = this.winning('PriorityCharging', [evseId], at);
      if (tx && !live) live = this.winning('TxProfile', [evseId], at, (e) => e.profile.transactionId === tx.id);
      if (!live) live = this.winning('TxDefaultProfile', [0, evseId], at);
    }
    const amps = Math.min(this.hardwareMaxA, max?.amps ?? Infinity, live?.amps ?? Infinity);
    return { amps: round1(amps), phases: live?.phases ?? max?.phases ?? 3 };
  }

  // K08 GetCompositeSchedule: the composite over [now, now + duration], one period per change.
  compositeSchedule(evseId, durationS, unit) {
    const start = Date.now();
    const end = start + durationS * 1000;
    const breakpoints = new Set([start]);
    const add = (t) => {
      if (t > start && t < end) breakpoints.add(t);
    };
    for (const entry of this.installed) {
      const { profile } = entry;
      if (profile.validFrom) add(Date.parse(profile.validFrom));
      if (profile.validTo) add(Date.parse(profile.validTo));
      const schedule = profile.chargingSchedule[0];
      const first = this.scheduleStart(entry, schedule, start);
      const recurrences = profile.chargingProfileKind === 'Recurring' ? [first, recurringStart(first, profile.recurrencyKind, end)] : [first];
      for (const s of recurrences) {
        for (const period of schedule.chargingSchedulePeriod) add(s + period.startPeriod * 1000);
        if (schedule.duration !== undefined) add(s + schedule.duration * 1000);
      }
    }
    const periods = [];
    for (const t of [...breakpoints].sort((a, b) => a - b)) {
      const { amps, phases } = this.compositeAt(evseId, t);
      const limit = unit === 'W' ? Math.round(amps * this.voltage * phases) : amps;
      const startPeriod = Math.floor((t - start) / 1000);
      const last = periods[periods.length - 1];
      if (last && last.limit === limit && last.numberPhases === phases) continue;
      if (last && last.startPeriod === startPeriod) periods.pop();
      periods.push({ startPeriod, limit, numberPhases: phases });
    }
    return { evseId, duration: durationS, scheduleStart: new Date(start).toISOString(), chargingRateUnit: unit, chargingSchedulePeriod: periods };
  }
}
