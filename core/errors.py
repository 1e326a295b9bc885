"""One exception tree for the whole product; the CLI maps it to exit codes in one place.

    AssayError                      base; .exit_code
    ├── UsageError          (2)     bad flags, unknown names
    │   ├── NotFoundError   (2)     dataset, run or version that does not exist
    │   ├── ConfigError     (2)     assay.toml problems (file + key)
    │   ├── InputError      (2)     a bad dataset/log file (file + line [+ column])
    │   └── ResumeError     (2)     resume refused: config or dataset hash changed
    ├── QualityGateFailed   (1)     --fail-under / alert thresholds not met
    ├── InfrastructureError (3)     model/provider errors above the allowed rate
    └── Interrupted       (130)     Ctrl+C; carries the resume command
"""

from __future__ import annotations


class AssayError(Exception):
    exit_code = 2

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class UsageError(AssayError):
    exit_code = 2


class NotFoundError(UsageError):
    pass


class ConfigError(UsageError):
    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        where = ": ".join(p for p in (file, key) if p)
        super().__init__(f"{where}: {message}" if where else message)
        self.file, self.key = file, key


class InputError(UsageError):
    """A bad record in an input file. `line` is 1-based; `column` is set for JSON."""

    def __init__(self, file: str, line: int | None, problem: str, *, column: int | None = None):
        loc = file
        if line is not None:
            loc += f":{line}"
            if column is not None:
                loc += f":{column}"
        super().__init__(f"{loc}: {problem}")
        self.file, self.line, self.column, self.problem = file, line, column, problem


class ResumeError(UsageError):
    pass


class QualityGateFailed(AssayError):
    exit_code = 1


class InfrastructureError(AssayError):
    exit_code = 3


class Interrupted(AssayError):
    exit_code = 130
