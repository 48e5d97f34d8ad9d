// The OCPP 2.x device model of the simulated charging station: components and variables with their
// attributes (Actual, MaxSet, ...) and characteristics, read and written the way 2.0.1 part 2
// (B05-B08, appendix "Components and variables") describes:
// - GetVariables: WriteOnly -> Rejected, unknown component / variable -> UnknownComponent /
//   UnknownVariable, a missing attribute type -> NotSupportedAttributeType;
// - SetVariables: ReadOnly -> Rejected, the value checked against dataType, minLimit / maxLimit and
//   valuesList (OptionList, MemberList, SequenceList) -> Rejected with a reasonCode;
// - reports (GetBaseReport / GetReport): WriteOnly values never reported.

const ATTRIBUTE_TYPES = ['Actual', 'Target', 'MinSet', 'MaxSet'];

// Identity of a component as the CSMS addresses it: name, instance, EVSE and connector.
const componentKey = (c) => [c.name, c.instance ?? '', c.evse?.id ?? '', c.evse?.connectorId ?? ''].join('|');
const variableKey = (v) => [v.name, v.instance ?? ''].join('|');

function copyComponent(c) {
  const out = { name: c.name };
  if (c.instance !== undefined) out.instance = c.instance;
  if (c.evse) out.evse = c.evse.connectorId === undefined ? { id: c.evse.id } : { id: c.evse.id, connectorId: c.evse.connectorId };
  return out;
}

function copyVariable(v) {
  return v.instance === undefined ? { name: v.name } : { name: v.name, instance: v.instance };
}

// Why a value does not fit a variable's characteristics (a reasonCode, <= 20 characters), or null.
function invalidValue(value, ch, validate) {
  if (validate) {
    const reason = validate(value);
    if (reason) return reason;
  }
  const listed = (ch.valuesList ?? '').split(',').filter(Boolean);
  switch (ch.dataType) {
    case 'integer':
    case 'decimal': {
      const pattern = ch.dataType === 'integer' ? /^-?\d+$/ : /^-?\d+(\.\d+)?$/;
      if (!pattern.test(value)) return 'InvalidValue';
      const n = Number(value);
      if ((ch.minLimit !== undefined && n < ch.minLimit) || (ch.maxLimit !== undefined && n > ch.maxLimit)) return 'ValueOutOfRange';
      return null;
    }
    case 'boolean':
      return value === 'true' || value === 'false' ? null : 'InvalidValue';
    case 'dateTime':
      return Number.isNaN(Date.parse(value)) ? 'InvalidValue' : null;
    case 'OptionList':
      return listed.includes(value) ? null : 'ValueNotInList';
    case 'MemberList':
    case 'SequenceList': {
      const members = value.split(',').filter(Boolean);
      if (members.some((m) => !listed.includes(m))) return 'ValueNotInList';
      if (new Set(members).size !== members.length) return 'DuplicateMember';
      return null;
    }
    default: // string: maxLimit is the maximum length
      return ch.maxLimit !== undefined && value.length > ch.maxLimit ? 'ValueTooLong' : null;
  }
}

export class DeviceModel {
  // entries: [{component, variable, attributes: {Actual: {value, mutability, persistent, constant}},
  //            characteristics: {dataType, unit, minLimit, maxLimit, valuesList, supportsMonitoring},
  //            read(): dynamic Actual value, validate(value): reasonCode|null, onSet(value)}]
  constructor(entries) {
    this.entries = entries.map((entry) => ({
      ...entry,
      characteristics: { supportsMonitoring: false, ...entry.characteristics },
    }));
    this.byKey = new Map(this.entries.map((e) => [`${componentKey(e.component)}/${variableKey(e.variable)}`, e]));
    this.components = new Set(this.entries.map((e) => componentKey(e.component)));
  }

  find(component, variable) {
    if (!this.components.has(componentKey(component))) return { status: 'UnknownComponent' };
    const entry = this.byKey.get(`${componentKey(component)}/${variableKey(variable)}`);
    return entry ? { entry } : { status: 'UnknownVariable' };
  }

  // The Actual value of a station-level (or given EVSE's) variable, as a string.
  value(componentName, variableName, { instance, evse, variableInstance } = {}) {
    const { entry } = this.find({ name: componentName, instance, evse }, { name: variableName, instance: variableInstance });
    if (!entry) throw new Error(`device model has no ${componentName}.${variableName}`);
    return this.actual(entry);
  }

  actual(entry, type = 'Actual') {
    if (type === 'Actual' && entry.read) return entry.read();
    return entry.attributes[type]?.value;
  }

  // Change a value from inside the station (no mutability check): status changes, counters.
  update(componentName, variableName, value, { instance, evse, variableInstance } = {}) {
    const { entry } = this.find({ name: componentName, instance, evse }, { name: variableName, instance: variableInstance });
    if (!entry) throw new Error(`device model has no ${componentName}.${variableName}`);
    entry.attributes.Actual.value = String(value);
  }

  // GetVariables: one getVariableResult.
  get({ component, variable, attributeType = 'Actual' }) {
    const result = { attributeType, component: copyComponent(component), variable: copyVariable(variable) };
    const { entry, status } = this.find(component, variable);
    if (!entry) return { ...result, attributeStatus: status };
    const attribute = entry.attributes[attributeType];
    if (!attribute) return { ...result, attributeStatus: 'NotSupportedAttributeType' };
    if (attribute.mutability === 'WriteOnly') {
      return { ...result, attributeStatus: 'Rejected', attributeStatusInfo: { reasonCode: 'WriteOnly' } };
    }
    return { ...result, attributeStatus: 'Accepted', attributeValue: this.actual(entry, attributeType) };
  }

  // SetVariables: one setVariableResult (and the new value stored when Accepted).
  set({ component, variable, attributeValue, attributeType = 'Actual' }) {
    const result = { attributeType, component: copyComponent(component), variable: copyVariable(variable) };
    const { entry, status } = this.find(component, variable);
    if (!entry) return { ...result, attributeStatus: status };
    const attribute = entry.attributes[attributeType];
    if (!attribute || !ATTRIBUTE_TYPES.includes(attributeType)) return { ...result, attributeStatus: 'NotSupportedAttributeType' };
    if (attribute.mutability === 'ReadOnly') {
      return { ...result, attributeStatus: 'Rejected', attributeStatusInfo: { reasonCode: 'ReadOnly' } };
    }
    const reason = invalidValue(attributeValue, entry.characteristics, entry.validate);
    if (reason) return { ...result, attributeStatus: 'Rejected', attributeStatusInfo: { reasonCode: reason } };
    attribute.value = attributeValue;
    entry.onSet?.(attributeValue);
    return { ...result, attributeStatus: entry.rebootRequired ? 'RebootRequired' : 'Accepted' };
  }

  // reportData for GetBaseReport (FullInventory / ConfigurationInventory / SummaryInventory).
  baseReport(reportBase) {
    const writable = (e) => Object.values(e.attributes).some((a) => a.mutability !== 'ReadOnly');
    const summary = (e) => ['AvailabilityState', 'Problem', 'Tripped', 'Active'].includes(e.variable.name);
    const keep = { FullInventory: () => true, ConfigurationInventory: writable, SummaryInventory: summary }[reportBase];
    return this.entries.filter(keep).map((e) => this.reportData(e));
  }

  // reportData for GetReport: componentVariable filters, componentCriteria (Active / Available /
  // Enabled / Problem: components whose variable of that name is "true").
  report(componentVariable, componentCriteria) {
    let entries = this.entries;
    if (componentVariable?.length) {
      entries = entries.filter((e) =>
        componentVariable.some(
          (cv) =>
            cv.component.name === e.component.name &&
            (cv.component.instance === undefined || cv.component.instance === e.component.instance) &&
            (cv.component.evse === undefined ||
              (cv.component.evse.id === e.component.evse?.id &&
                (cv.component.evse.connectorId === undefined || cv.component.evse.connectorId === e.component.evse?.connectorId))) &&
            (cv.variable === undefined ||
              (cv.variable.name === e.variable.name && (cv.variable.instance === undefined || cv.variable.instance === e.variable.instance))),
        ),
      );
    }
    if (componentCriteria?.length) {
      const matching = new Set(
        this.entries
          .filter((e) => componentCriteria.includes(e.variable.name) && this.actual(e) === 'true')
          .map((e) => componentKey(e.component)),
      );
      entries = entries.filter((e) => matching.has(componentKey(e.component)));
    }
    return entries.map((e) => this.reportData(e));
  }

  reportData(entry) {
    const variableAttribute = Object.entries(entry.attributes).map(([type, a]) => {
      const out = { type, mutability: a.mutability, persistent: a.persistent ?? true, constant: a.constant ?? false };
      if (a.mutability !== 'WriteOnly') out.value = this.actual(entry, type);
      return out;
    });
    const { dataType, unit, minLimit, maxLimit, valuesList, supportsMonitoring } = entry.characteristics;
    const variableCharacteristics = { dataType, supportsMonitoring };
    if (unit !== undefined) variableCharacteristics.unit = unit;
    if (minLimit !== undefined) variableCharacteristics.minLimit = minLimit;
    if (maxLimit !== undefined) variableCharacteristics.maxLimit = maxLimit;
    if (valuesList !== undefined) variableCharacteristics.valuesList = valuesList;
    return {
      component: copyComponent(entry.component),
      variable: copyVariable(entry.variable),
      variableAttribute,
      variableCharacteristics,
    };
  }
}

// --------------------------------------------------------------------------- entry constructors
// variable(component, name, value, {mutability, dataType, constant, unit, minLimit, maxLimit,
//          valuesList, instance, attributes, read, validate, onSet})
export function variable(component, name, value, options = {}) {
  const { mutability = 'ReadOnly', dataType = 'string', constant = false, instance, attributes, read, validate, onSet, ...characteristics } = options;
  return {
    component,
    variable: instance === undefined ? { name } : { name, instance },
    attributes: attributes ?? { Actual: { value: String(value), mutability, persistent: true, constant } },
    characteristics: { dataType, ...characteristics },
    read,
    validate,
    onSet,
  };
}
