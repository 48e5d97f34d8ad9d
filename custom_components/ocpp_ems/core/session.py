"""Version-agnostic command interface of a connected charger.

Each protocol adapter (``protocol/v16/`` ...) subclasses :class:`ChargerSession`. The HA layer and the
current-control code only ever call these methods, never an OCPP action by name, so they work for every
version. Every method raises :class:`~.errors.CommandRejectedError`, :class:`~.errors.CommandTimeoutError`
or :class:`~.errors.CommandNotSupportedError` rather than returning a status the caller could ignore.
"""

from __future__ import annotations

import itertools
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from .directory import Admission, ChargerDirectory
from .errors import OcppEmsError
from .model import Charger, ChargingRateUnit
from .pacing import SetupGate
from .settings import ChargerSettings, ServerSettings

# Ids the central system picks for a charger to remember (2.x request ids, reservation ids): unique
# within a process, and unlikely to repeat one a charger still remembers from before a restart.
_REQUEST_IDS = itertools.count(int(time.time()) % 1_000_000_000)


def next_request_id() -> int:
    """A fresh id (below 2**31: valid in every version's integer fields)."""
    return next(_REQUEST_IDS)


async def remote_stop_each(
    session: ChargerSession, transaction_ids: Sequence[str]
) -> dict[str, OcppEmsError]:
    """Ask the charger to stop each transaction, every one even when it fails one (a station
    that refuses one EVSE's stop must not keep the others charging). Returns each failed stop's
    error: each has its own outcome (one refused is not one left unanswered)."""
    failed: dict[str, OcppEmsError] = {}
    for transaction_id in transaction_ids:
        try:
            await session.remote_stop(transaction_id)
        except OcppEmsError as err:
            failed[transaction_id] = err
    return failed


# Certificate types (OCPP 2.x names; the 1.6 adapter translates CSMSRootCertificate to its
# CentralSystemRootCertificate).
CSMS_ROOT_CERTIFICATE = "CSMSRootCertificate"
MANUFACTURER_ROOT_CERTIFICATE = "ManufacturerRootCertificate"
# GetLog's log types (the same in 1.6's security extension and 2.x).
DIAGNOSTICS_LOG = "DiagnosticsLog"
SECURITY_LOG = "SecurityLog"


class CertificateService(Protocol):
    """The server's certificate authority as the sessions use it (security profiles 2 and 3; one
    per server, shared by its sessions). :class:`~.protocol.certificates.AuthorityCertificates`
    implements it on :class:`~.security.ca.CertificateAuthority`."""

    def root_certificate_pem(self) -> str | None:
        """Our CA certificate (PEM): the charger's CSMS root certificate. None: no CA yet."""

    def admit_csr(self, charger_id: str) -> bool:
        """Whether a certificate signing request of ``charger_id`` may be handled now, counted
        when it may: a CA exists and the charger's last request is long enough ago (a charger
        must not make us sign in a loop)."""

    def sign_csr(self, csr: str, charger_id: str) -> str:
        """The PEM certificate chain to send the charger in CertificateSigned for its CSR (PEM),
        leaf first. Raises :class:`~.security.ca.CertificateError` when it refuses the CSR (bad
        signature, a common name other than ``charger_id`` ...). Blocking (a signature): the
        sessions call it off the event loop."""


@dataclass(kw_only=True)
class SessionContext:
    """What the server hands an adapter when a charger connects."""

    directory: ChargerDirectory
    server_settings: ServerSettings
    # Admission can change while connected (the user accepts a pending charger): always ask.
    admission: Callable[[], Admission]
    charger_settings: Callable[[], ChargerSettings]
    # Ask the server to persist the model soon (debounced): after transactions, energy, limits.
    request_save: Callable[[], None]
    # Called by the adapter once the charger booted Accepted (the server starts current control).
    on_booted: Callable[[], None]
    # Post-boot setup takes a slot here first; the server shares one gate among all its sessions.
    # The default belongs to this context alone (a session on its own is never held back).
    setup_gate: SetupGate = field(
        default_factory=lambda: SetupGate(ServerSettings().setup_concurrency)
    )
    # Our certificate authority (charger-initiated SignCertificate, InstallCertificate of our CA);
    # None: none is set up, a charger's certificate signing request is answered Rejected.
    certificates: CertificateService | None = None


@dataclass(frozen=True, kw_only=True)
class LimitRequest:
    """One charging limit to install as a profile (the current-control module decides which)."""

    profile_id: int
    stack_level: int
    purpose: str  # "charger_max" | "tx_default" | "tx"
    connector_id: int
    limit: float  # in ``unit``; 0 pauses
    unit: ChargingRateUnit
    number_phases: int | None = None
    duration_s: int | None = None
    start: datetime | None = None
    transaction_id: str | None = None


@dataclass(frozen=True, kw_only=True)
class SchedulePeriod:
    """One period of a composite schedule: from ``start_s`` after the schedule's start on."""

    start_s: int
    limit: float | None  # None: a 2.1 period that only sets a setpoint
    phases: int | None = None
    # What else a 2.1 period says, by snake_case name: the limits of L2 and L3 (``limit`` is
    # then L1's), discharge limits, setpoints, its operation mode, V2X curves, ...
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CompositeSchedule:
    """What a charger says it will apply on a connector (GetCompositeSchedule, 1.6 and 2.x
    alike): the result of every profile it holds, ours and anyone else's."""

    connector_id: int
    unit: ChargingRateUnit
    start: datetime | None  # None: the charger did not say (it means "now")
    duration_s: int | None
    periods: tuple[SchedulePeriod, ...]

    @property
    def first(self) -> SchedulePeriod | None:
        """The period in force at the schedule's start (asked for now: the one in force now)."""
        return min(self.periods, key=lambda period: period.start_s, default=None)


@dataclass(frozen=True, kw_only=True)
class CertificateHashData:
    """OCPP's CertificateHashDataType (the same in 1.6's security extension and 2.x): how a
    charger names an installed certificate."""

    hash_algorithm: str  # "SHA256" | "SHA384" | "SHA512"
    issuer_name_hash: str  # hex
    issuer_key_hash: str  # hex
    serial_number: str  # hex, without leading zeros

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> CertificateHashData:
        return cls(
            hash_algorithm=data["hashAlgorithm"],
            issuer_name_hash=data["issuerNameHash"],
            issuer_key_hash=data["issuerKeyHash"],
            serial_number=data["serialNumber"],
        )

    def payload(self) -> dict[str, str]:
        return {
            "hashAlgorithm": self.hash_algorithm,
            "issuerNameHash": self.issuer_name_hash,
            "issuerKeyHash": self.issuer_key_hash,
            "serialNumber": self.serial_number,
        }

    def matches(self, other: CertificateHashData) -> bool:
        """The same certificate (chargers differ in the case of the hex digits and in leading
        zeros of the serial number)."""

        def normal(data: CertificateHashData) -> tuple[str, str, str, str]:
            return (
                data.hash_algorithm.upper(),
                data.issuer_name_hash.lower(),
                data.issuer_key_hash.lower(),
                data.serial_number.lower().lstrip("0"),
            )

        return normal(self) == normal(other)


@dataclass(frozen=True, kw_only=True)
class InstalledCertificate:
    """A certificate a charger has installed (GetInstalledCertificateIds)."""

    certificate_type: str  # the 2.x name (CSMSRootCertificate ...), whatever the version
    hash_data: CertificateHashData
    # 2.x V2GCertificateChain: the sub-CA certificates below it.
    children: tuple[CertificateHashData, ...] = ()


@dataclass(frozen=True, kw_only=True)
class SignedFirmware:
    """A signed firmware image (1.6 SignedUpdateFirmware, 2.x UpdateFirmware): the charger checks
    ``signature`` (base64) of the image with ``signing_certificate`` (PEM) before installing."""

    location: str
    retrieve_date: datetime
    signing_certificate: str
    signature: str
    install_date: datetime | None = None


class ChargerSession(ABC):
    """A live connection to one charger, speaking one OCPP version."""

    ocpp_version: str
    charger: Charger

    # --- lifecycle -----------------------------------------------------------------------------
    @abstractmethod
    async def run(self) -> None:
        """Read and answer messages until the connection closes."""

    @abstractmethod
    async def close(self) -> None:
        """Close the connection and fail pending calls at once."""

    @abstractmethod
    async def on_accepted(self, password: str | None) -> None:
        """The user approved this (pending) charger: provision the Basic-auth password (security
        profile 1) when given, then make it boot again so it gets Accepted (TriggerMessage)."""

    # --- core -------------------------------------------------------------------------------------
    @abstractmethod
    async def reset(self, *, hard: bool = False) -> None: ...

    @abstractmethod
    async def unlock(self, connector_id: int) -> None: ...

    @abstractmethod
    async def remote_start(self, connector_id: int, id_tag: str) -> None: ...

    @abstractmethod
    async def remote_stop(self, transaction_id: str) -> None: ...

    @abstractmethod
    async def get_configuration(self, keys: list[str] | None = None) -> dict[str, Any]:
        """Return ``{"configuration": {key: {"value": str|None, "readonly": bool}}, "unknown": [...]}``."""

    @abstractmethod
    async def set_configuration(self, key: str, value: str) -> str:
        """Return the charger's status (Accepted / RebootRequired); raise on Rejected/NotSupported."""

    @abstractmethod
    async def change_availability(self, connector_id: int | None, *, operative: bool) -> str:
        """Put a connector (None or 0: the whole charger) in or out of service; return "Accepted",
        or "Scheduled" (the change waits for the running transaction to end)."""

    @abstractmethod
    async def clear_cache(self) -> None:
        """Empty the charger's authorization cache (not its local list)."""

    @abstractmethod
    async def trigger_message(self, message: str, connector_id: int | None = None) -> None: ...

    @abstractmethod
    async def data_transfer(
        self, vendor_id: str, message_id: str | None, data: str | None
    ) -> dict[str, Any]:
        """Return ``{"status": ..., "data": ...}``."""

    # --- firmware / diagnostics ------------------------------------------------------------------
    @abstractmethod
    async def update_firmware(
        self, location: str, retrieve_date: datetime, retries: int | None = None
    ) -> None: ...

    @abstractmethod
    async def request_diagnostics(self, location: str) -> str | None:
        """Ask for a diagnostics upload; return the file name the charger announces, if any."""

    @abstractmethod
    async def signed_update_firmware(
        self,
        firmware: SignedFirmware,
        *,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> None:
        """Install signed firmware (1.6 security extension SignedUpdateFirmware, 2.x
        UpdateFirmware); the charger reports progress in (Signed)FirmwareStatusNotification."""

    @abstractmethod
    async def get_log(
        self,
        log_type: str,
        location: str,
        *,
        oldest: datetime | None = None,
        latest: datetime | None = None,
        retries: int | None = None,
        retry_interval_s: int | None = None,
    ) -> str | None:
        """Ask for a log upload (GetLog: :data:`DIAGNOSTICS_LOG` or :data:`SECURITY_LOG`) to
        ``location``; return the file name the charger announces, if any. Progress comes in
        LogStatusNotification."""

    # --- security: certificates and security profile --------------------------------------------
    @abstractmethod
    async def install_root_certificate(self, pem: str | None = None) -> None:
        """Install ``pem`` (None: our CA, from the context's certificate service) as the
        charger's CSMS root certificate (1.6 CentralSystemRootCertificate, 2.x
        CSMSRootCertificate): what it checks our TLS server certificate against."""

    @abstractmethod
    async def get_installed_certificate_ids(
        self, types: Sequence[str] | None = None
    ) -> list[InstalledCertificate]:
        """The CA certificates the charger has installed, of ``types`` (2.x names, see
        :data:`CSMS_ROOT_CERTIFICATE`; None: every type the version knows); [] when none."""

    @abstractmethod
    async def delete_certificate(self, hash_data: CertificateHashData) -> None:
        """Remove an installed certificate (as :meth:`get_installed_certificate_ids` names it)."""

    @abstractmethod
    async def request_new_client_certificate(self) -> None:
        """Make the charger send a new certificate signing request (a first client certificate
        for profile 3, or a renewal): 1.6 ExtendedTriggerMessage SignChargePointCertificate, 2.x
        TriggerMessage SignChargingStationCertificate. The SignCertificate / CertificateSigned
        round follows on its own (:mod:`.protocol.certificates`)."""

    @abstractmethod
    async def set_security_profile(self, profile: int) -> str:
        """Move the charger to security ``profile`` where the profile is a plain setting (1.6:
        ``SecurityProfile``; the charger then reconnects with it); return Accepted /
        RebootRequired. 2.x changes it with :meth:`set_network_profile` (OCPP 2.0.1 A05):
        CommandNotSupportedError unless the station lets us write ``SecurityCtrlr.SecurityProfile``."""

    @abstractmethod
    async def set_network_profile(
        self,
        slot: int,
        url: str,
        security_profile: int,
        *,
        interface: str = "Wired0",
        message_timeout_s: int = 30,
    ) -> None:
        """2.x SetNetworkProfile: a connection to ``url`` (the CSMS URL without the charger id)
        with ``security_profile`` in configuration ``slot``. 1.6 has no network profiles:
        CommandNotSupportedError."""

    # --- local auth list / reservation -----------------------------------------------------------
    @abstractmethod
    async def send_local_list(self, id_tags: list[str], version: int) -> None: ...

    @abstractmethod
    async def get_local_list_version(self) -> int: ...

    @abstractmethod
    async def reserve_now(
        self, connector_id: int, id_tag: str, expiry: datetime, reservation_id: int
    ) -> None: ...

    @abstractmethod
    async def cancel_reservation(self, reservation_id: int) -> None: ...

    # --- smart charging --------------------------------------------------------------------------
    @abstractmethod
    async def set_limit_profile(self, request: LimitRequest) -> None: ...

    @abstractmethod
    async def set_raw_profile(self, connector_id: int, profile: dict[str, Any]) -> None: ...

    @abstractmethod
    async def clear_profiles(
        self,
        *,
        profile_id: int | None = None,
        connector_id: int | None = None,
        purpose: str | None = None,
        stack_level: int | None = None,
    ) -> None: ...

    @abstractmethod
    async def get_composite_schedule(
        self, connector_id: int, duration_s: int, unit: ChargingRateUnit | None = None
    ) -> CompositeSchedule | None:
        """The charger's composite schedule for ``connector_id`` (0: the whole charger) from now
        on for ``duration_s``, in ``unit`` where it takes it (None: its choice); None when it
        answers without a schedule."""

    @abstractmethod
    async def get_composite_limit(
        self, connector_id: int, duration_s: int = 60, unit: ChargingRateUnit | None = None
    ) -> float | None:
        """The limit in force now according to the charger, in ``unit`` (None: the charger's
        choice, A or W converted by the caller); None when the charger reports no schedule."""
