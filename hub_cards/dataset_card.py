"""The dataset card (README.md) written beside the Parquet shards of a curated dataset.

``render_dataset_card(stats)`` returns the card as text; ``write_dataset_card(stats, out_dir)`` writes
``README.md`` and the plots under ``assets/`` and links them relatively, as the Hub renders them.

The card opens with YAML front matter that the Hub reads as dataset metadata (license, task
categories, language, tags, size category, pretty name and a ``default`` config naming one
``data/{split}-*.parquet`` pattern per split), followed by the build facts, the per-source and
per-reason record counts, decontamination, difficulty, splits, the recipe parameters, how to load
the data, its intended use and a medical disclaimer.

``stats`` schema (all keys required unless marked optional)::

    name             str   recipe name, e.g. "text-all"
    pretty_name      str   human title of the dataset
    description      str   the recipe's docstring (indentation is cleaned up)
    recipe_version   int   version of the recipe definition
    version          str   build version, "v{recipe_version}-{12 hex}"
    content_hash     str   64-hex sha256 over the records (the build date is not part of it)
    medvlt_version   str   version of the package that built the dataset
    licenses         list[str]  Hub license ids of the sources ("cc-by-4.0", "mit", "other", ...)
    modality         str   "text", "image" or "mixed"
    num_records      int   records written, over all splits
    splits           dict[str, int]  split name -> records, in the order the card lists them
    sources          list[dict]  {"name", "origin", "read", "kept"} per source; origin is
                           "hub:ORG/NAME@revision" or a local path
    drops            dict[str, dict[str, int]]  step -> reason -> records removed; covers every
                           removal, decontamination and the difficulty band included
    decontamination  dict[str, int]  benchmark -> records removed (the decontamination step's drops,
                           per benchmark); optional, may be empty
    decontaminated_against list[str]  optional: the benchmarks the decontamination step ran against
                           ([]: no step ran); without it, the recipe's ``decontaminate_against``
    pass_counts      dict[str, int] | None  pass_count (as a string, JSON style) -> records scored
    difficulty       dict | None  {"model", "rollouts", "band": [low, high]} and optionally "backend",
                           "temperature", "top_p", "max_tokens", "prompt", "order", "note"
    distillation     dict | None  {"teacher", "backend", "n", "temperature", "max_tokens",
                           "questions", "with_trace", "without_trace"} and optionally "note"
    recipe           dict  flat recipe parameters, shown as YAML
    benchmark_counts list[dict] | None  optional, eval builds: per benchmark {"benchmark", "paper",
                           "kept", "difference", "drops" (reason -> count), "note"}
    features         list[str]  column names of the records
    created          str   optional ISO date of the build
    demo             bool  optional: True when the build was made from medvlt's embedded demo corpus;
                           the card then says so in its first lines and is tagged ``demo``
    repo_id          str   optional Hub id "ORG/NAME" used in the loading example

The counts must balance: sum of ``read`` = sum of ``kept`` + sum of every drop, sum of ``kept`` =
``num_records`` = sum of ``splits``. A card that states a wrong equation is worse than no card, so
``render_dataset_card`` raises ``ValueError`` when they do not.
"""

from __future__ import annotations

import base64
import inspect
import json
from pathlib import Path

import yaml

from hub_cards.rendering import PLOT_STYLE, png_bytes, template

__all__ = [
    "DEMO_NOTE",
    "is_demo",
    "plot_pass_counts",
    "plot_records_per_source",
    "render_dataset_card",
    "size_category",
    "write_dataset_card",
]

#: Upper bounds and names of the Hub's ``size_categories`` buckets, smallest first.
_SIZE_BUCKETS = [
    (10**3, "n<1K"),
    (10**4, "1K<n<10K"),
    (10**5, "10K<n<100K"),
    (10**6, "100K<n<1M"),
    (10**7, "1M<n<10M"),
    (10**8, "10M<n<100M"),
    (10**9, "100M<n<1B"),
    (10**10, "1B<n<10B"),
    (10**11, "10B<n<100B"),
    (10**12, "100B<n<1T"),
]

_REQUIRED = (
    "name",
    "pretty_name",
    "description",
    "recipe_version",
    "version",
    "content_hash",
    "medvlt_version",
    "licenses",
    "modality",
    "num_records",
    "splits",
    "sources",
    "drops",
    "recipe",
    "features",
)

#: stats.json keys the card template shows as they are, and those a build may leave out.
_CARD_FIELDS = ("name", "pretty_name", "recipe_version", "version", "content_hash", "medvlt_version", "modality",
                "features")  # fmt: skip
_OPTIONAL_CARD_FIELDS = ("created", "difficulty", "distillation")

#: Asset stems of the plots a card can carry, in card order.
_PLOT_NAMES = ("records_per_source", "pass_counts")

_READ_COLOR, _KEPT_COLOR, _OUT_COLOR = "#c8ccd4", "#2f6db5", "#c8ccd4"


#: What the first lines of a demo build's card say (``stats["demo"]``).
DEMO_NOTE = (
    "Demo build: made-up questions from medvlt's embedded demo corpus, not real medical data; "
    "for trying the pipeline only."
)


def is_demo(stats: dict) -> bool:
    """Whether ``stats`` are a demo build's (``"demo": true``, written by ``medvlt data build --demo``)."""
    return stats.get("demo") is True


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket for ``n`` records.

    >>> size_category(0), size_category(999), size_category(1000)
    ('n<1K', 'n<1K', '1K<n<10K')
    >>> size_category(23_500), size_category(177_000), size_category(2_000_000)
    ('10K<n<100K', '100K<n<1M', '1M<n<10M')
    >>> size_category(10**12)
    'n>1T'
    """
    if n < 0:
        raise ValueError(f"a record count cannot be negative: {n}")
    for bound, name in _SIZE_BUCKETS:
        if n < bound:
            return name
    return "n>1T"


def plot_records_per_source(sources: list[dict]) -> bytes:
    """PNG of records read and kept per source, one pair of horizontal bars each."""
    import matplotlib
    from matplotlib.figure import Figure

    names = [str(s["name"]) for s in sources]
    ys = list(range(len(sources)))
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(layout="constrained", figsize=(6.4, 1.3 + 0.45 * max(len(sources), 1)))
        ax = fig.add_subplot()
        read = ax.barh(
            [y - 0.2 for y in ys], [s["read"] for s in sources], 0.4, color=_READ_COLOR, label="read"
        )
        kept = ax.barh(
            [y + 0.2 for y in ys], [s["kept"] for s in sources], 0.4, color=_KEPT_COLOR, label="kept"
        )
        ax.bar_label(read, fmt="{:,.0f}", padding=2, fontsize=7)
        ax.bar_label(kept, fmt="{:,.0f}", padding=2, fontsize=7)
        ax.set_yticks(ys, names)
        ax.invert_yaxis()
        ax.set_xlabel("records")
        ax.margins(x=0.15)
        fig.legend(loc="outside lower center", ncols=2, frameon=False)
        ax.set_title("Records per source")
        return png_bytes(fig)


def plot_pass_counts(
    pass_counts: dict[int, int], band: tuple[int, int] | None = None, rollouts: int | None = None
) -> bytes:
    """PNG histogram of records per pass_count (of ``rollouts``); bars inside the kept ``band`` are
    highlighted."""
    import matplotlib
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    top = max([*pass_counts, rollouts or 0])
    values = list(range(top + 1))
    counts = [pass_counts.get(v, 0) for v in values]
    inside = [band is None or band[0] <= v <= band[1] for v in values]
    with matplotlib.rc_context(PLOT_STYLE):
        fig = Figure(layout="constrained", figsize=(7.2, 3.4))
        ax = fig.add_subplot()
        ax.bar(values, counts, 0.8, color=[_KEPT_COLOR if i else _OUT_COLOR for i in inside])
        if band is not None:
            handles = [
                Patch(color=_KEPT_COLOR, label=f"kept ({band[0]} <= pass_count <= {band[1]})"),
                Patch(color=_OUT_COLOR, label="dropped"),
            ]
            fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False)
        ax.set_xticks(values)
        ax.set_xlabel(
            "pass_count (correct answers out of the rollouts)"
            if rollouts is None
            else f"pass_count (of {rollouts})"
        )
        ax.set_ylabel("records")
        ax.set_title("Difficulty: pass-count histogram")
        return png_bytes(fig)


def _check(stats: dict) -> None:
    """Raise ``ValueError`` when a required key is missing or the record counts do not balance."""
    missing = [key for key in _REQUIRED if key not in stats]
    if missing:
        raise ValueError(f"dataset card stats lack: {', '.join(missing)}")
    if stats["modality"] not in ("text", "image", "mixed"):
        raise ValueError(f"modality must be text, image or mixed, not {stats['modality']!r}")
    read = sum(s["read"] for s in stats["sources"])
    kept = sum(s["kept"] for s in stats["sources"])
    dropped = sum(sum(reasons.values()) for reasons in stats["drops"].values())
    in_splits = sum(stats["splits"].values())
    problems = []
    if read != kept + dropped:
        problems.append(f"{read} read != {kept} kept + {dropped} dropped")
    if kept != stats["num_records"]:
        problems.append(f"sources keep {kept} records but num_records is {stats['num_records']}")
    if in_splits != stats["num_records"]:
        problems.append(f"splits hold {in_splits} records but num_records is {stats['num_records']}")
    if problems:
        raise ValueError("dataset card counts do not balance: " + "; ".join(problems))


def _licenses(stats: dict) -> list[str]:
    """Distinct Hub license ids, first-seen order; ``["unknown"]`` when no source names one."""
    return list(dict.fromkeys(lic.strip().lower() for lic in stats["licenses"])) or ["unknown"]


def _front_matter(stats: dict) -> dict:
    """The card's YAML metadata, in the Hub's dataset-card field names."""
    licenses = _licenses(stats)
    tasks = ["question-answering"]
    if stats["modality"] != "text":
        tasks.append("visual-question-answering")
    return {
        "pretty_name": stats["pretty_name"],
        "license": licenses[0] if len(licenses) == 1 else licenses,
        "language": ["en"],
        "task_categories": tasks,
        "tags": ["medical", "multiple-choice", "medvlt", *(["demo"] if is_demo(stats) else [])],
        "size_categories": [size_category(stats["num_records"])],
        "configs": [
            {
                "config_name": "default",
                "data_files": [
                    {"split": split, "path": f"data/{split}-*.parquet"} for split in stats["splits"]
                ],
            }
        ],
    }


def _plot_stems(stats: dict) -> list[str]:
    """Asset stems of the card's plots: records per source (when any source), pass counts (when given)."""
    present = {"records_per_source": bool(stats["sources"]), "pass_counts": bool(stats.get("pass_counts"))}
    return [stem for stem in _PLOT_NAMES if present[stem]]


def _plots(stats: dict) -> dict[str, bytes]:
    """The card's plots as PNG bytes by asset stem."""
    stems = _plot_stems(stats)
    plots = {}
    if "records_per_source" in stems:
        plots["records_per_source"] = plot_records_per_source(stats["sources"])
    if "pass_counts" in stems:
        difficulty = stats.get("difficulty") or {}
        band = tuple(difficulty["band"]) if "band" in difficulty else None
        counts = {int(v): int(c) for v, c in stats["pass_counts"].items()}
        plots["pass_counts"] = plot_pass_counts(counts, band, difficulty.get("rollouts"))
    return plots


def _render(stats: dict, images: dict[str, str]) -> str:
    """Fill the template; ``images`` maps plot stem to the link written into the card."""
    sources = [{**s, "dropped": s["read"] - s["kept"]} for s in stats["sources"]]
    totals = {key: sum(s[key] for s in sources) for key in ("read", "kept", "dropped")}
    drops = [
        {"step": step, "reason": reason, "count": count}
        for step, reasons in stats["drops"].items()
        for reason, count in reasons.items()
    ]
    removed = stats.get("decontamination") or {}
    recipe = stats.get("recipe") or {}
    indexed = recipe.get("decontamination_reference") or {}  # benchmark -> questions indexed
    against = stats.get("decontaminated_against")
    if against is None:  # stats of a build that did not record it: the recipe's list
        against = recipe.get("decontaminate_against") or []
    names = list(dict.fromkeys([*against, *removed]))
    decontamination = [{"name": b, "count": removed.get(b, 0), "indexed": indexed.get(b)} for b in names]
    pass_counts = sorted((int(v), int(c)) for v, c in (stats.get("pass_counts") or {}).items())
    total = stats["num_records"]
    splits = [
        {"name": name, "count": n, "share": f"{100 * n / total:.1f}%" if total else "-"}
        for name, n in stats["splits"].items()
    ]
    data_files = {split: f"data/{split}-*.parquet" for split in stats["splits"]}
    recipe_yaml = (
        yaml.safe_dump(stats["recipe"], sort_keys=False, allow_unicode=True) if stats["recipe"] else "{}\n"
    )
    return template("dataset_card.md.j2").render(
        front_matter=yaml.safe_dump(_front_matter(stats), sort_keys=False, allow_unicode=True),
        **{key: stats[key] for key in _CARD_FIELDS},
        **{key: stats.get(key) for key in _OPTIONAL_CARD_FIELDS},
        demo_note=DEMO_NOTE if is_demo(stats) else None,
        description=inspect.cleandoc(stats["description"]),
        num_records=total,
        licenses=_licenses(stats),
        sources=sources,
        totals=totals,
        drops=drops,
        decontamination=decontamination,
        decontamination_total=sum(b["count"] for b in decontamination),
        decontamination_method=recipe.get("decontamination_method"),
        pass_counts=[{"value": v, "count": c} for v, c in pass_counts],
        splits=splits,
        recipe_yaml=recipe_yaml,
        data_files_repr=json.dumps(data_files),
        repo_id=stats.get("repo_id") or f"ORG/{stats['name']}",
        images=images,
        benchmark_counts=_benchmark_counts(stats),
    )


def _benchmark_counts(stats: dict) -> list[dict] | None:
    """An eval build's per-benchmark counts against the paper's, with the drops as one text cell."""
    rows = stats.get("benchmark_counts")
    if not rows:
        return None
    shown = []
    for row in rows:
        drops = ", ".join(f"{reason} {count:,}" for reason, count in row["drops"].items()) or "-"
        shown.append({**row, "drops_text": drops, "difference_text": f"{row['difference']:+,}"})
    return shown


def render_dataset_card(stats: dict, embed_images: bool = True) -> str:
    """The dataset card for ``stats`` (schema in the module docstring) as Markdown with YAML front matter.

    With ``embed_images`` the plots are inline ``data:image/png;base64`` URIs, so the text stands
    alone; without, the card links ``assets/{plot}.png``, the files ``write_dataset_card`` writes.
    """
    _check(stats)
    if embed_images:
        images = {
            stem: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
            for stem, png in _plots(stats).items()
        }
    else:
        images = {stem: f"assets/{stem}.png" for stem in _plot_stems(stats)}
    return _render(stats, images)


def write_dataset_card(stats: dict, out_dir: str | Path) -> Path:
    """Write ``README.md`` and its plots under ``assets/`` into ``out_dir``; return the README path.

    The README links the plots relatively (``assets/records_per_source.png`` and, when pass counts
    are present, ``assets/pass_counts.png``), which the Hub renders from the repository files.
    """
    out = Path(out_dir)
    _check(stats)
    plots = _plots(stats)
    assets = out / "assets"
    assets.mkdir(parents=True, exist_ok=True)
    for stem in _PLOT_NAMES:  # a rebuild into the same folder must not leave a stale plot behind
        path = assets / f"{stem}.png"
        if stem in plots:
            path.write_bytes(plots[stem])
        else:
            path.unlink(missing_ok=True)
    readme = out / "README.md"
    readme.write_text(_render(stats, {stem: f"assets/{stem}.png" for stem in plots}), encoding="utf-8")
    return readme
