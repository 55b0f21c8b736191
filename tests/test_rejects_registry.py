"""The reject reason registry (medvlt_data/rejects.py): complete, exact and documented.

The scan (tests/reason_scan.py) reads the package's source for every place a reason is produced.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from medvlt_data.rejects import REASONS, STEPS, lookup, render_markdown
from tests.reason_scan import ROOT, scan

#: Where a reason is produced -> the steps whose rejects it then appears in.
SITE_STEPS = {
    "medvlt_data/sources/": ("ingest", "read"),
    "medvlt_data/closed_vqa.py": ("ingest", "read"),
    "medvlt_data/images.py": ("ingest", "read"),
    "medvlt_data/schema.py": ("ingest",),
    "medvlt_data/pipeline/image_step.py": ("images",),
    "medvlt_data/pipeline/exact_dedup.py": ("dedup_exact",),
    "medvlt_data/pipeline/near_dedup.py": ("dedup_near",),
    "medvlt_data/pipeline/decontaminate.py": ("decontaminate",),
    "medvlt_data/pipeline/difficulty.py": ("difficulty",),
}


@pytest.fixture(scope="module")
def found():
    return scan()


def test_every_reason_in_the_code_is_registered(found):
    missing = {r: places for r, places in found.reasons.items() if lookup(r) is None}
    assert not missing, "reasons produced but not in medvlt_data/rejects.py REASONS: " + "; ".join(
        f"{r} (at {', '.join(places)})" for r, places in sorted(missing.items())
    )


def test_every_reason_site_is_understood(found):
    """A reason the scan cannot follow back to a constant could be anything: write it as a literal or
    a module-level constant, or teach tests/reason_scan.py the new way."""
    assert not found.unresolved, "reason sites the scan cannot follow:\n" + "\n".join(found.unresolved)


def test_every_registered_reason_is_produced(found):
    stale = sorted(set(REASONS) - {lookup(r).code for r in found.reasons if lookup(r)})
    assert not stale, f"registered reasons no code produces (remove them from REASONS): {stale}"


def test_each_reason_lists_the_steps_that_produce_it(found):
    wrong = []
    for reason, places in sorted(found.reasons.items()):
        entry = lookup(reason)
        for place in places:
            for prefix, steps in SITE_STEPS.items():
                if place.startswith(prefix) and not set(steps) <= set(entry.steps):
                    wrong.append(f"{reason} ({place}) appears in step(s) {steps}; REASONS says {entry.steps}")
    assert not wrong, "\n".join(wrong)


def test_registry_entries_are_well_formed():
    for code, reason in REASONS.items():
        assert code == reason.code
        assert reason.meaning and reason.meaning[0].islower() and not reason.meaning.endswith("."), code
        assert reason.steps and set(reason.steps) <= set(STEPS), (code, reason.steps)
        assert list(reason.steps) == sorted(reason.steps, key=list(STEPS).index), code
    assert list(REASONS) == sorted(REASONS), "keep REASONS in alphabetical order"


def test_lookup_of_a_filled_in_reason():
    assert lookup("contaminated:medqa").code == "contaminated:<benchmark>"
    assert lookup("duplicate").steps == ("ingest", "read", "dedup_exact")
    assert lookup("no-such-reason") is None
    assert lookup("no-such:thing") is None


def test_reject_reasons_page_is_current():
    page = ROOT / "docs" / "rejects.md"
    assert page.read_text(encoding="utf-8") == render_markdown(), (
        "docs/rejects.md is stale: run `python -m medvlt_data.rejects > docs/rejects.md`"
    )
    for code in REASONS:
        assert f"| `{code}` |" in render_markdown()


def test_the_readme_links_the_page():
    assert "docs/rejects.md" in (ROOT / "README.md").read_text(encoding="utf-8")


# the scan itself -----------------------------------------------------------------------------------


def _scan_text(tmp_path: Path, text: str):
    path = tmp_path / "probe.py"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return scan([path], root=tmp_path)


def test_the_scan_follows_every_way_a_reason_is_written(tmp_path):
    found = _scan_text(
        tmp_path,
        """
        KIND = "from-a-constant"

        def pair_of(value):
            if value:
                return None, "from-a-tuple"
            return value, ""

        def check(value):
            return "from-a-return" if value else {"A": "x"}

        class Step:
            default_reason = "from-a-default"

            def filter(self, doc):
                return False, f"filtered:{doc.name}"

            def read(self, row, doc, item, flag):
                yield self.reject("a-literal", "detail", "f", "r")
                yield self.reject(KIND, "detail", "f", "r")
                reason = "one-branch" if flag else "other-branch"
                yield Rejected(reason=reason, detail="", file="", ref="")
                _, problem = pair_of(row)
                yield self.reject(problem, "detail", "f", "r")
                options = check(row)
                yield self.reject(options, "detail", "f", "r")
                doc.metadata["filter_reason"] = "a-filter-reason"
                item.reason = "an-attribute"
                yield Problem("a-problem", "message")
                yield reject_row("step", "a-reject-row", id="", source="", split="", source_id="")
        """,
    )
    assert sorted(found.reasons) == sorted([
        "a-filter-reason", "a-literal", "a-problem", "a-reject-row", "an-attribute", "filtered:<doc.name>",
        "from-a-constant", "from-a-default", "from-a-return", "from-a-tuple", "one-branch", "other-branch",
    ])  # fmt: skip
    assert found.unresolved == []


def test_the_scan_reports_what_it_cannot_follow(tmp_path):
    found = _scan_text(
        tmp_path,
        """
        def read(self, rows):
            for reason in rows:
                yield self.reject(reason, "detail", "f", "r")
            yield self.reject(rows.pick(), "detail", "f", "r")
        """,
    )
    assert found.reasons == {}
    assert len(found.unresolved) == 2
    assert "probe.py:4: reason" in found.unresolved[0]
    assert "rows.pick()" in found.unresolved[1]
