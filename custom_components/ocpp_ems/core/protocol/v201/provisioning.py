"""What the CSMS does to a 2.x charging station around boot (see :mod:`...provisioning`).

The 2.x setup steps, after an accepted BootNotification:

1. read the device model: GetBaseReport(FullInventory), its NotifyReport pages put back together
   over ``seqNo`` / ``tbc`` (:meth:`Provisioning.record_report`, called by the NotifyReport
   handler; a report whose pages stop coming, or keep coming without an end, is used as far as it
   goes: see ``Provisioning.report_timeout_s``); a station that does not report (NotSupported,
   no pages in time) is asked with GetVariables for the variables this integration uses. Smart
   charging is switched on where the station has it switched off (``SmartChargingCtrlr.Enabled``,
   if writable); then the capabilities (see ``device_model.KEYS``);
2. meter values, as 1.6 configures ``MeterValueSampleInterval`` / ``MeterValuesSampledData``:
   ``SampledDataCtrlr.TxUpdatedInterval`` and ``TxUpdatedMeasurands`` (and
   ``AlignedDataCtrlr.Measurands`` where clock-aligned data is on), within what the station
   accepts (its ``valuesList`` / ``maxLimit``, else probing);
3. the local list (SendLocalList when GetLocalListVersion differs).

Basic auth (security profile 1): ``SecurityCtrlr.BasicAuthPassword`` (the plain password, 16 to 40
characters), then ``SecurityCtrlr.SecurityProfile`` 1 where the station is at 0 and lets us change
it (2.x makes it read-only on most stations: SetNetworkProfile stays with the charger's app; a
station at 0 that we cannot move gets no password, and a warning says so). The password counts as
offered once the station accepted it (and the profile, where it had to change), with the same
two-phase commit and lockout protection as 1.6 (``ChargerState.record_password_provisioned``, the
first login with it commits it in ``CentralSystem``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from custom_components.ocpp_ems.core.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    InvalidCommandError,
    OcppEmsError,
)
from custom_components.ocpp_ems.core.protocol.common import csv, expect_status, spans
from custom_components.ocpp_ems.core.protocol.measurands import (
    MeasurandRules,
    negotiate_measurands,
)
from custom_components.ocpp_ems.core.protocol.provisioning import (
    BaseProvisioning,
    SetupStep,
    accepted,
)
from custom_components.ocpp_ems.core.session import next_request_id

from .device_model import (
    ALIGNED_MEASURANDS,
    BASIC_AUTH_PASSWORD,
    KEYS,
    SECURITY_PROFILE,
    SMART_CHARGING_ENABLED,
    TX_UPDATED_INTERVAL,
    TX_UPDATED_MEASURANDS,
    DeviceModel,
    ReportAssembler,
    VariableId,
    VariableInfo,
    capabilities_from_device_model,
    var,
)

if TYPE_CHECKING:
    from .session import V201Session

_LOGGER = logging.getLogger(__name__)

# The Basic-auth password's length in 2.x (SecurityCtrlr.BasicAuthPassword).
PASSWORD_LENGTH = range(16, 41)
# What the fallback read asks for when the station sends no report: every variable in KEYS, and
# EVSE 1 (a station that does not report is taken for one EVSE).
FALLBACK_VARIABLES: tuple[VariableId, ...] = tuple(
    dict.fromkeys(
        [
            *(variable for variables in KEYS.values() for variable in variables),
            var("EVSE", "SupplyPhases", evse=1),
            var("EVSE", "ACPhaseSwitchingSupported", evse=1),
        ]
    )
)
# A whole report may take this many page timeouts (Provisioning.report_timeout_s) at most: a
# station that keeps sending new pages slowly, each within the page timeout, and never the last
# one, must not hold the setup (the station maximum, the safe fallback, the live limit) for ever.
REPORT_DEADLINE_PAGE_TIMEOUTS = 4
_LIST_TYPES = ("MemberList", "SequenceList", "OptionList", "string")


class Provisioning(BaseProvisioning):
    """Boot bookkeeping and post-boot setup of one 2.x session."""

    _session: V201Session

    boots_on_reconnect = False
    # A report is given up when no new page (a seqNo not seen yet) arrived for this long (s), and
    # used as far as it goes after REPORT_DEADLINE_PAGE_TIMEOUTS of these in all (a station that
    # keeps sending pages: 2 minutes); class attribute for tests.
    report_timeout_s: float = 30.0

    def __init__(self, session: V201Session) -> None:
        super().__init__(session)
        self._report: ReportAssembler | None = None
        self._report_progress = asyncio.Event()
        self._report_lock = asyncio.Lock()

    def steps(self) -> Sequence[SetupStep]:
        return (self._read_device_model, self._configure_meter_values, self.sync_local_list)

    # --- device model ----------------------------------------------------------------------------
    def record_report(self, payload: Mapping[str, Any]) -> None:
        """One NotifyReport page (from its handler): kept if it belongs to the report we wait for."""
        report = self._report
        if report is None or payload["requestId"] != report.request_id:
            _LOGGER.debug(
                "%s: NotifyReport of request %s not waited for; ignored",
                self._charger_id,
                payload["requestId"],
            )
            return
        pages = len(report.pages)
        # Only a page that adds something (a new seqNo) or ends the report counts as progress: a
        # station that repeats a page must not keep the read open.
        if report.add(payload) or len(report.pages) > pages:
            self._report_progress.set()

    async def read_device_model(self) -> DeviceModel:
        """The whole device model, read afresh: GetBaseReport(FullInventory) and its pages.

        Raises CommandRejectedError when the station refuses the report or sends nothing in
        time; a report with pages missing is used as far as it goes (logged)."""
        async with self._report_lock:
            report = ReportAssembler(next_request_id())
            self._report = report
            self._report_progress.clear()
            try:
                result = await self._session.call(
                    "GetBaseReport",
                    {"requestId": report.request_id, "reportBase": "FullInventory"},
                )
                expect_status("GetBaseReport", result)
                await self._wait_for(report)
            finally:
                self._report = None
        if report.cut:
            _LOGGER.warning(
                "%s: device model report cut after %s entries on %s pages; used as far as it goes",
                self._charger_id,
                report.entries,
                len(report.pages),
            )
        elif not report.complete:
            _LOGGER.warning(
                "%s: device model report incomplete (pages %s missing)",
                self._charger_id,
                spans(report.missing) or "after the last one received",
            )
        model = DeviceModel.from_report(report.report_data())
        if not model:
            raise CommandRejectedError("GetBaseReport", "no report received")
        self._session.use_device_model(model)
        return model

    async def _wait_for(self, report: ReportAssembler) -> None:
        """Until the report is finished (complete or cut), no new page came for
        ``report_timeout_s``, or the report took REPORT_DEADLINE_PAGE_TIMEOUTS times that in
        all (then it is used as far as it goes, as for a missing page)."""
        deadline = self.report_timeout_s * REPORT_DEADLINE_PAGE_TIMEOUTS
        try:
            async with asyncio.timeout(deadline):
                while not report.finished:
                    self._report_progress.clear()
                    try:
                        async with asyncio.timeout(self.report_timeout_s):
                            await self._report_progress.wait()
                    except TimeoutError:
                        return
        except TimeoutError:
            _LOGGER.warning(
                "%s: device model report not finished after %.0f s (%s pages)",
                self._charger_id,
                deadline,
                len(report.pages),
            )

    async def _read_device_model(self) -> None:
        """Setup step: the device model (or the variables we use), then the capabilities."""
        session = self._session
        try:
            model = await self.read_device_model()
        except ChargerNotConnectedError:
            raise
        except OcppEmsError as err:
            _LOGGER.info(
                "%s: no device model report (%s); reading the variables used", self._charger_id, err
            )
            values = await session.get_variables(FALLBACK_VARIABLES)
            model = DeviceModel({vid: VariableInfo(value=value) for vid, value in values.items()})
            session.use_device_model(model)
        if not model:
            return  # it said nothing: keep what we knew (nothing known: everything is tried)
        await self._enable_smart_charging(model)
        capabilities = capabilities_from_device_model(session.device_model)
        if capabilities != session.charger.capabilities:
            session.state.record_capabilities(capabilities)

    async def _enable_smart_charging(self, model: DeviceModel) -> None:
        """A station with smart charging switched off rejects every profile: switch it on."""
        info = model.info(SMART_CHARGING_ENABLED)
        if (
            info is not None
            and model.flag(SMART_CHARGING_ENABLED) is False
            and not info.readonly
            and model.flag(var("SmartChargingCtrlr", "Available")) is not False
            and await self._try_set(SMART_CHARGING_ENABLED, "true")
        ):
            _LOGGER.info("%s: switched smart charging on", self._charger_id)

    # --- meter values ----------------------------------------------------------------------------
    async def _configure_meter_values(self) -> None:
        session = self._session
        settings = session.context.charger_settings()
        model = session.device_model
        interval = str(settings.meter_interval_s)
        known = model.info(TX_UPDATED_INTERVAL)
        current = None if known is None or known.readonly else known.value
        if (
            current is not None
            and current != interval
            and not await self._try_set(TX_UPDATED_INTERVAL, interval)
        ):
            _LOGGER.info(
                "%s: keeps its meter interval %ss (rejected %ss)",
                self._charger_id,
                current,
                interval,
            )
        lists = [TX_UPDATED_MEASURANDS]
        if (model.integer(var("AlignedDataCtrlr", "Interval")) or 0) > 0:
            lists.append(ALIGNED_MEASURANDS)
        # Only what the version knows: 2.x has no Temperature measurand, and a strict station
        # refuses a whole list with one unknown entry.
        known = self._session.dialect.schemas.request_schema("MeterValues")["definitions"][
            "MeasurandEnumType"
        ]["enum"]
        wanted = [measurand for measurand in settings.measurands if measurand in known]
        for variable in lists:
            info = model.info(variable)
            if info is not None and not info.readonly:
                await self._configure_measurands(variable, info, wanted)

    async def _configure_measurands(
        self, variable: VariableId, info: VariableInfo, wanted: Sequence[str]
    ) -> None:
        charger = self._session.charger

        async def write(value: str) -> bool:
            return await self._try_set(variable, value)

        max_chars = info.max_limit if info.data_type in _LIST_TYPES else None
        charger.rejected_measurands = await negotiate_measurands(
            wanted,
            csv(info.value),
            rules=MeasurandRules(
                max_items=info.max_elements,
                max_chars=None if max_chars is None else int(max_chars),
                supported=None if not info.values_list else frozenset(info.values_list),
            ),
            rejected=charger.rejected_measurands,
            write=write,
        )

    async def _try_set(self, variable: VariableId, value: str) -> bool:
        return await accepted(self._session.set_variable(variable, value))

    # --- Basic auth ------------------------------------------------------------------------------
    async def provision_password(self, password: str) -> None:
        """BasicAuthPassword, then SecurityProfile 1 where the station is at 0 (see the module)."""
        session = self._session
        if len(password) not in PASSWORD_LENGTH:
            raise InvalidCommandError(
                "SetVariables", "a 2.x Basic-auth password has 16 to 40 characters"
            )
        profile, readonly = await self._security_profile()
        if profile == "0" and readonly:
            _LOGGER.warning(
                "%s: runs security profile 0, which it does not let us change: raise it to 1 in "
                "the charger's own app to use a password",
                self._charger_id,
            )
            return
        await session.set_variable(BASIC_AUTH_PASSWORD, password)
        if profile == "0":
            await session.set_variable(SECURITY_PROFILE, "1")
        session.state.record_password_provisioned()
        _LOGGER.info("%s: moved to Basic authentication (security profile 1)", self._charger_id)

    async def _security_profile(self) -> tuple[str | None, bool]:
        """(SecurityCtrlr.SecurityProfile, whether it is read-only); None: the station did not say.
        A Pending station has not been read: ask it."""
        session = self._session
        info = session.device_model.info(SECURITY_PROFILE)
        if info is None or info.value is None:
            try:
                await session.get_variables([SECURITY_PROFILE])
            except (CommandRejectedError, InvalidCommandError) as err:
                _LOGGER.debug("%s: SecurityProfile unknown: %s", self._charger_id, err)
            info = session.device_model.info(SECURITY_PROFILE)
        if info is None:
            return None, False
        return (None if info.value is None else info.value.strip()), info.readonly
