"""Errors the core raises towards its callers (the HA layer maps them to translated exceptions)."""

from __future__ import annotations


class OcppEmsError(Exception):
    """Base class."""


class ChargerNotConnectedError(OcppEmsError):
    def __init__(self, charger_id: str) -> None:
        super().__init__(f"Charger {charger_id} is not connected")
        self.charger_id = charger_id


class CommandRejectedError(OcppEmsError):
    """The charger answered, but not with Accepted (or answered with a CallError)."""

    def __init__(self, action: str, status: str) -> None:
        super().__init__(f"{action} answered {status}")
        self.action = action
        self.status = status


class InvalidCommandError(OcppEmsError):
    """Our own payload failed the OCPP schema (e.g. a raw profile or an over-long configuration
    value from the user): it was never sent, so the charger did not answer anything."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(f"{action} was not sent: {reason}")
        self.action = action
        self.reason = reason


class CommandTimeoutError(OcppEmsError):
    def __init__(self, action: str) -> None:
        super().__init__(f"{action}: no answer from the charger")
        self.action = action


class CommandNotSupportedError(OcppEmsError):
    """The command does not exist for this charger's OCPP version or feature profiles;
    ``detail`` says what to do instead, where there is something."""

    def __init__(self, action: str, detail: str | None = None) -> None:
        message = f"{action} is not supported by this charger"
        super().__init__(f"{message}: {detail}" if detail else message)
        self.action = action
        self.detail = detail


class ServerBindError(OcppEmsError):
    def __init__(self, host: str, port: int, reason: str) -> None:
        super().__init__(f"Cannot listen on {host}:{port}: {reason}")
        self.host = host
        self.port = port
        self.reason = reason


class FailureRuns:
    """Which failures in each run of a charger's failed tries were told: each kind of
    ``told_once`` once per run, the others at every failure. A charger that refuses every limit
    (a setting on it keeps central systems out) must not warn at every retry forever. A run ends
    when a try succeeds (:meth:`taken`)."""

    def __init__(self, told_once: tuple[type[OcppEmsError], ...] = (CommandRejectedError,)) -> None:
        self._told_once = told_once
        self._told: dict[str, set[type[Exception]]] = {}

    def first(self, err: Exception, key: str = "") -> bool:
        """Whether ``err`` is worth a warning: a kind not told once per run, or the first of its
        kind in the run of ``key`` (the rest of the run: False, logged at debug)."""
        if not isinstance(err, self._told_once):
            return True
        told = self._told.setdefault(key, set())
        if type(err) in told:
            return False
        told.add(type(err))
        return True

    def taken(self, key: str = "") -> None:
        """A try of ``key`` succeeded: its run of failures (if any) ends."""
        self._told.pop(key, None)
