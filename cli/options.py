"""Option groups that several commands share, each a dataclass built from its click options and shown
under a heading of its own in ``--help``:

- :func:`backend_options` (:class:`BackendOptions`): which backend answers with which model, for
  ``data build``, ``data distill`` and ``eval``; the defaults differ per command and each command's
  help shows its own;
- :func:`difficulty_options` (:class:`DifficultyOptions`): the difficulty settings of ``data build``;
- :func:`benchmark_list`: the callback that parses a comma-separated benchmark list;
- :func:`count_option`: an option that takes a whole number of at least 1;
- :func:`limit_type`: the click range of a numeric setting, from the one table of ranges
  (:data:`medvlt_data.inference.limits.LIMITS`) that the settings dataclasses check recipes against.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

import click

from medvlt_data.benchmarks import BENCHMARKS, parse_benchmarks
from medvlt_data.inference.backends import AUTO, BACKENDS, BackendSpec
from medvlt_data.inference.limits import LIMITS, REQUEST_TIMEOUT_HELP, SettingError

__all__ = ["BackendOptions", "DifficultyOptions", "GroupedOption", "SectionedCommand", "SectionedGroup",
           "backend_options", "benchmark_list", "count_option", "difficulty_options", "limit_type"]  # fmt: skip


def count_option(*names: str, default: int | None = None, help: str, **more: Any) -> Callable:
    """A click option that takes a whole number of at least 1 (N); its default shown when it has one."""
    return click.option(*names, type=click.IntRange(min=1), default=default, show_default=default is not None,
                        metavar="N", help=help, **more)  # fmt: skip


class _Limited:
    """A click range whose values are checked by the setting's own :class:`~medvlt_data.inference.limits.Limit`,
    so the command line's message is the recipe's (the range is shown in ``--help`` as click shows it)."""

    def __init__(self, setting: str):
        limit = LIMITS[setting]
        super().__init__(min=limit.low, max=limit.high, min_open=limit.low_open)  # type: ignore[call-arg]
        self.setting, self.limit = setting, limit

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = (click.INT if self.limit.whole else click.FLOAT).convert(value, param, ctx)
        try:
            self.limit.check(self.setting, number)
        except SettingError as exc:
            self.fail(str(exc), param, ctx)
        return number


class _LimitedInt(_Limited, click.IntRange):
    pass


class _LimitedFloat(_Limited, click.FloatRange):
    pass


def limit_type(name: str) -> click.ParamType:
    """The click type of the numeric setting ``name``: its range of :data:`~medvlt_data.inference.limits.LIMITS`,
    refused with the message a recipe value out of range gets."""
    return _LimitedInt(name) if LIMITS[name].whole else _LimitedFloat(name)


#: What each backend name means, for the --backend help.
BACKEND_HELP = (
    "vllm: start `vllm serve` (GPUs); transformers-serve: start `transformers serve`; transformers: "
    "generate in this process (small models on CPU); endpoint: a running server (--endpoint)"
)


class GroupedOption(click.Option):
    """A click option listed under the heading ``group`` in ``--help``."""

    def __init__(self, *args: Any, group: str | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.group = group


class _Sections:
    """``--help`` with the options of each group under its heading, after the ungrouped ones."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        sections: dict[str, list[tuple[str, str]]] = {"Options": []}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and not isinstance(param, click.Argument):
                sections.setdefault(getattr(param, "group", None) or "Options", []).append(record)
        for title, records in sections.items():
            if records:
                with formatter.section(title):
                    formatter.write_dl(records)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)


class SectionedCommand(_Sections, click.Command):
    """A command whose option groups have headings in ``--help``."""


class SectionedGroup(_Sections, click.Group):
    """A group whose option groups have headings in ``--help``."""


def _group(cls: type, kwarg: str, heading: str, options: list[tuple[str, tuple[str, ...], dict]]):
    """A decorator adding ``options`` (field, flags, click attributes) under ``heading``; the command
    receives them as one ``cls`` instance in ``kwarg``."""
    names = [name for name, _, _ in options]

    def decorate(function: Callable) -> Callable:
        @functools.wraps(function)
        def command(*args: Any, **kwargs: Any) -> Any:
            kwargs[kwarg] = cls(**{name: kwargs.pop(name) for name in names})
            return function(*args, **kwargs)

        for name, flags, attrs in reversed(options):
            command = click.option(*flags, name, cls=GroupedOption, group=heading, **attrs)(command)
        return command

    return decorate


class _Given:
    """An option group's values as given: ``None`` means not given."""

    def given(self) -> dict[str, Any]:
        """The options with a value, by field name."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass
class BackendOptions(_Given):
    """The backend options as given; ``None`` where a command has no default (the recipe's applies)."""

    model: str | None = None
    backend: str | None = None
    endpoint: str | None = None
    api_key_env: str | None = None
    concurrency: int | None = None
    tensor_parallel: int | None = None
    data_parallel: int | None = None
    trust_remote_code: bool | None = None
    request_timeout: float | None = None
    max_retries: int | None = None

    def spec(self) -> BackendSpec:
        """The :class:`BackendSpec` of these options (``concurrency``, ``request_timeout`` and
        ``max_retries`` are the caller's)."""
        known = {f.name for f in fields(BackendSpec)}
        return BackendSpec(**{k: v for k, v in self.given().items() if k in known})


def backend_options(
    *,
    heading: str,
    defaults: dict[str, Any] | None = None,
    notes: dict[str, str] | None = None,
    model_flag: str = "--model",
    model_help: str = "The model that answers: Hub ID[@revision], folder, or 'tiny' (medvlt's test model).",
    model_required: bool = False,
    auto: bool = False,
) -> Callable[[Callable], Callable]:
    """The backend group (see :class:`BackendOptions`) with this command's ``defaults`` (shown in
    ``--help``) and ``notes`` (bracketed after a help text, e.g. ``recipe: vllm``); ``auto`` offers
    ``--backend auto``. The command receives the group as ``backend_options``."""
    defaults, notes = defaults or {}, notes or {}
    choices = [AUTO, *BACKENDS] if auto else list(BACKENDS)
    backend_help = (
        BACKEND_HELP + ("; auto: vllm when a GPU is present, else transformers" if auto else "") + "."
    )
    table: list[tuple[str, tuple[str, ...], dict]] = [
        ("model", (model_flag,), {"metavar": "MODEL", "help": model_help, "required": model_required}),
        ("backend", ("--backend",), {"type": click.Choice(choices), "help": backend_help}),
        ("endpoint", ("--endpoint",), {"metavar": "URL", "help": "endpoint: base URL of a running OpenAI-compatible server (.../v1)."}),
        ("api_key_env", ("--api-key-env",),
         {"metavar": "VAR", "help": "endpoint: environment variable that holds the API key (never printed)."}),
        ("concurrency", ("--concurrency",), {"type": limit_type("concurrency"), "metavar": "N", "help": "Requests in flight."}),
        ("tensor_parallel", ("--tensor-parallel",), {"type": limit_type("tensor_parallel"), "metavar": "N", "help": "vllm: GPUs per model replica."}),
        ("data_parallel", ("--data-parallel",), {"type": limit_type("data_parallel"), "metavar": "N", "help": "vllm: model replicas."}),
        ("trust_remote_code", ("--trust-remote-code",),
         {"is_flag": True, "help": "vllm, transformers: allow the model's own code (off by default)."}),
        ("request_timeout", ("--request-timeout",), {"type": limit_type("request_timeout"), "metavar": "SECONDS",
                                                     "help": f"Servers: {REQUEST_TIMEOUT_HELP}"}),
        ("max_retries", ("--max-retries",), {"type": limit_type("max_retries"), "metavar": "N",
         "help": "Servers: tries after the first of a request that failed for a reason that may pass "
                 "(timeout, dropped connection, HTTP 408/409/429/5xx)."}),
    ]  # fmt: skip
    for name, _, attrs in table:
        attrs["default"] = defaults.get(name)
        attrs["show_default"] = name in defaults and not attrs.get("is_flag")
        if name in notes:
            attrs["help"] = f"{attrs['help']} [{notes[name]}]"
    return _group(BackendOptions, "backend_options", heading, table)


@dataclass
class DifficultyOptions(_Given):
    """The difficulty settings of ``data build`` as given (``None``: the recipe's); :meth:`given` keys
    are those of ``DifficultySettings``."""

    rollouts: int | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    min_pass: int | None = None
    max_pass: int | None = None
    order: str | None = None


#: The difficulty group of ``data build``; the command receives it as ``difficulty``.
difficulty_options = _group(
    DifficultyOptions,
    "difficulty",
    "Difficulty (text-hard, image-hard; [recipe: X] is the recipe's value)",
    [
        ("rollouts", ("--rollouts",), {"type": limit_type("rollouts"), "metavar": "N", "help": "Answers asked per question [recipe: 16]."}),
        ("max_tokens", ("--max-tokens",), {"type": limit_type("max_tokens"), "metavar": "N", "help": "New tokens per rollout [recipe: 4096]."}),
        ("temperature", ("--temperature",), {"type": limit_type("temperature"), "metavar": "T", "help": "Sampling temperature [recipe: 1.0]."}),
        ("min_pass", ("--min-pass",), {"type": limit_type("min_pass"), "metavar": "N",
                                       "help": "Keep pass_count >= this (at most --max-pass and --rollouts) [recipe: 1]."}),
        ("max_pass", ("--max-pass",), {"type": limit_type("max_pass"), "metavar": "N", "help": "Keep pass_count <= this [recipe: 7]."}),
        ("order", ("--order",), {"type": click.Choice(["none", "easy-to-hard"]),
                                 "help": "Record order: canonical, or pass_count high to low [recipe: none]."}),
    ],
)  # fmt: skip


def benchmark_list(known: Iterable[str] = tuple(BENCHMARKS), allow_none: bool = False) -> Callable:
    """A click callback: the comma-separated benchmark list of an option, checked against ``known``
    (:func:`medvlt_data.benchmarks.parse_benchmarks`); ``None`` stays ``None``."""
    known = tuple(known)

    def parse(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
        if value is None:
            return None
        try:
            return parse_benchmarks(value, known, allow_none=allow_none)
        except ValueError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None

    return parse
