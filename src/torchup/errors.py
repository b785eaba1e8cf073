"""One exception tree for torchup.

A ``TorchupError`` is something the user can act on: it carries what happened,
why, what to do next, and the exit code.  Any other exception is a bug; the CLI
shows its traceback only with ``-v``.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BUG",
    "EXIT_ENV",
    "EXIT_FAILURE",
    "EXIT_INSTALL",
    "EXIT_NETWORK",
    "EXIT_NO_BUILD",
    "EXIT_OK",
    "EXIT_USAGE",
    "EnvironmentProblem",
    "InputError",
    "InstallFailed",
    "NetworkError",
    "NoBuildError",
    "TorchupError",
    "UsageError",
]

EXIT_OK = 0
EXIT_FAILURE = 1  # a check failed / nothing matched (verify, explain)
EXIT_USAGE = 2  # bad arguments or bad input file
EXIT_NO_BUILD = 3  # no PyTorch build fits (Plan contract)
EXIT_ENV = 4  # the environment refuses the operation (preflight, PEP 668, permissions)
EXIT_NETWORK = 5  # an index could not be reached or answered garbage
EXIT_INSTALL = 6  # the package manager failed; the environment was restored
EXIT_BUG = 70  # an unexpected exception (EX_SOFTWARE)


class TorchupError(Exception):
    """An error the user can act on.

    ``message`` says what happened, ``hint`` what to do next; ``details`` are
    extra lines (reasons, bad fields) shown under the message.
    """

    exit_code = EXIT_FAILURE
    code = "error"

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        details: list[str] | tuple[str, ...] = (),
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = tuple(details)
        if code is not None:
            self.code = code

    def to_json(self) -> dict:
        out: dict = {"code": self.code, "message": self.message}
        if self.details:
            out["reasons"] = list(self.details)
        if self.hint:
            out["hint"] = self.hint
        return out


class UsageError(TorchupError):
    """Bad command-line arguments."""

    exit_code = EXIT_USAGE
    code = "usage"


class InputError(TorchupError):
    """A file or value given to torchup is malformed (machine file, log, catalog cache)."""

    exit_code = EXIT_USAGE
    code = "bad-input"


class NoBuildError(TorchupError):
    """No PyTorch build fits the machine and the request."""

    exit_code = EXIT_NO_BUILD
    code = "no-build"


class EnvironmentProblem(TorchupError):
    """The target environment refuses the operation (read-only, PEP 668, no disk)."""

    exit_code = EXIT_ENV
    code = "environment"


class NetworkError(TorchupError):
    """An index could not be reached, refused us, or answered something unreadable."""

    exit_code = EXIT_NETWORK
    code = "network"


class InstallFailed(TorchupError):
    """The package manager failed; ``details`` say what was restored."""

    exit_code = EXIT_INSTALL
    code = "install-failed"
