"""The ranges of the numeric settings of scoring, distillation and evaluation, one table for the command
line and the recipes: the CLI builds its ``click`` ranges from :data:`LIMITS`, and the settings
dataclasses check a recipe's (or an API caller's) values with :func:`check_settings`, so a value out of
range is refused with the same bounds wherever it comes from.

>>> check_settings({"rollouts": 16, "temperature": 0.0})
>>> check_settings({"rollouts": 0})
Traceback (most recent call last):
...
medvlt_data.inference.limits.SettingError: rollouts must be a whole number >= 1, got 0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_REQUEST_TIMEOUT", "LIMITS", "REQUEST_TIMEOUT_HELP", "Limit", "SettingError",
           "check_settings"]  # fmt: skip

#: Seconds to wait for one answer: a 4096-token answer at 10 tokens a second takes about 7 minutes.
DEFAULT_REQUEST_TIMEOUT = 600.0
#: What ``--request-timeout`` means, for the help of every command that has it.
REQUEST_TIMEOUT_HELP = (
    "seconds to wait for one answer before it is tried again (a 4096-token answer at 10 tokens/s takes "
    "about 7 minutes); a server that never answers fails after 1 + --max-retries of these."
)


class SettingError(ValueError):
    """A setting out of its range, or two settings that contradict each other (the message says which)."""


@dataclass(frozen=True)
class Limit:
    """The range of one setting: a whole number or any number, bounded below and/or above."""

    whole: bool
    low: float | None = None
    high: float | None = None
    low_open: bool = False  # the low bound itself is out of range (timeouts: > 0)

    def describe(self) -> str:
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {_number(self.low)}")
        if self.high is not None:
            parts.append(f"<= {_number(self.high)}")
        return ("a whole number " if self.whole else "a number ") + " and ".join(parts)

    def check(self, name: str, value: Any) -> None:
        """Raise :class:`SettingError` unless ``value`` is a number in this range."""
        kinds = (int,) if self.whole else (int, float)
        ok = isinstance(value, kinds) and not isinstance(value, bool) and value == value  # NaN is no number
        if ok and self.low is not None:
            ok = value > self.low if self.low_open else value >= self.low
        if ok and self.high is not None:
            ok = value <= self.high
        if not ok:
            raise SettingError(f"{name} must be {self.describe()}, got {value!r}")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


#: Every numeric setting by its field name (the option is the name with dashes).
LIMITS: dict[str, Limit] = {
    "rollouts": Limit(whole=True, low=1),
    "n": Limit(whole=True, low=1),
    "max_tokens": Limit(whole=True, low=1),
    "max_new_tokens": Limit(whole=True, low=1),
    "temperature": Limit(whole=False, low=0),
    "top_p": Limit(whole=False, low=0, high=1, low_open=True),
    "min_pass": Limit(whole=True, low=0),
    "max_pass": Limit(whole=True, low=0),
    "concurrency": Limit(whole=True, low=1),
    "tensor_parallel": Limit(whole=True, low=1),
    "data_parallel": Limit(whole=True, low=1),
    "max_retries": Limit(whole=True, low=0),
    "backoff": Limit(whole=False, low=0),
    "request_timeout": Limit(whole=False, low=0, low_open=True),
}


def check_settings(values: dict[str, Any]) -> None:
    """Check every value of ``values`` that :data:`LIMITS` names (the others are not numbers to range)."""
    for name, value in values.items():
        if name in LIMITS:
            LIMITS[name].check(name, value)
