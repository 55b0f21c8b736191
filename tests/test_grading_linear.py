"""Answer extraction in linear time (medvlt_data.verify): the same results as the lazy regexes it
replaced, on every completion built from tag fragments, and a 1 MB completion of repeated tags graded
in well under a second by the verifier, the format gate, the reward and the distillation's trace reader.

The regexes below are the ones verify.py, distill.py and (through verify) rewards.py used before;
they are kept here only as the reference the new extraction is compared with."""

from __future__ import annotations

import itertools
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from medvlt_data.distill import reasoning_of
from medvlt_data.inference.client import Completion
from medvlt_data.verify import (
    answer_block,
    extract_paper_lenient,
    extract_strict,
    format_gated_reward,
    grade,
    has_format,
    last_answer_block,
    think_block,
)
from medvlt_train.rewards import format_reward, medvlt_reward, medvlt_reward_paper

OLD_BLOCK = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
OLD_BLOCK_ONE_LINE = re.compile(r"<answer>(.*?)</answer>")
OLD_FORMAT = re.compile(r"<think>.*?</think>\s*<answer>.*?</answer>", re.DOTALL)
OLD_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)


def old_first(pattern: re.Pattern, text: str) -> str | None:
    match = pattern.search(text)
    return match.group(1) if match else None


def old_last(text: str) -> str | None:
    blocks = OLD_BLOCK.findall(text)
    return blocks[-1] if blocks else None


def old_format(text: str, strip: bool) -> bool:
    return OLD_FORMAT.fullmatch(text.strip() if strip else text) is not None


def check_same(text: str) -> None:
    assert answer_block(text) == old_first(OLD_BLOCK, text), text
    assert answer_block(text, dotall=False) == old_first(OLD_BLOCK_ONE_LINE, text), text
    assert last_answer_block(text) == old_last(text), text
    assert think_block(text) == old_first(OLD_THINK, text), text
    assert has_format(text) is old_format(text, strip=False), text
    assert has_format(text, strip=True) is old_format(text, strip=True), text


FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "B", "x", "\n", " ", "\r", "\t", "\u2028",
             "<", ">", "</", "answer", "think"]  # fmt: skip


def test_every_short_sequence_of_fragments_reads_as_the_old_regexes_did():
    count = 0
    for length in range(5):
        for parts in itertools.product(FRAGMENTS[:10], repeat=length):
            check_same("".join(parts))
            count += 1
    assert count == sum(10**n for n in range(5))


@settings(max_examples=1500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_random_completions_of_fragments_read_as_the_old_regexes_did(text):
    check_same(text)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(st.text(alphabet=st.sampled_from("<>/ \n\tthinkanswerB"), max_size=60))
def test_random_characters_read_as_the_old_regexes_did(text):
    check_same(text)


def test_whitespace_between_the_blocks_is_what_the_old_gate_took_as_whitespace():
    for code in range(0x3100):
        char = chr(code)
        text = f"<think>x</think>{char}<answer>B</answer>"
        assert has_format(text) is old_format(text, strip=False), hex(code)


def test_distill_reads_the_first_think_block():
    assert reasoning_of(Completion("<think> a </think><think>b</think>")) == "a"
    assert reasoning_of(Completion("<think>never closed")) == ""
    assert reasoning_of(Completion("<think>x</think>", reasoning=" r ")) == "r"


# ---- 1 MB of repeated tags ------------------------------------------------------------------------

MB = 1 << 20


def _repeat(unit: str, head: str = "", tail: str = "") -> str:
    return head + unit * (MB // len(unit)) + tail


#: Completions that made the lazy scans quadratic: openings without their closing tag, a gate whose
#: closing answer tag never comes, and a mix of every tag with letters and newlines.
BAD = {
    "open answer": _repeat("<answer>"),
    "open think": _repeat("<think>"),
    "unclosed gate": _repeat("</think> <answer>", head="<think>", tail="x"),
    "one-line answers": _repeat("<answer>x\n"),
    "mix": _repeat("<think>B\n</think> <answer> x</think>\n<answer>"),
    "closed at the end": _repeat("<answer>", tail="</answer>"),
}


def _timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_megabyte_of_repeated_tags_is_graded_in_well_under_a_second(name):
    text = BAD[name]
    options = {"A": "Asthma", "B": "COPD"}
    checks = {
        "verifier": lambda: grade(text, options, "B"),
        "strict one-line": lambda: extract_strict(text, dotall=False),
        "paper lenient": lambda: extract_paper_lenient(text),
        "format check": lambda: (has_format(text), has_format(text, strip=True)),
        "reward": lambda: (format_gated_reward(text, "B", "COPD"), format_gated_reward(text, "B", "COPD", "paper")),
        "rlvr rewards": lambda: (medvlt_reward([text], answer_label=["B"], answer=["COPD"]),
                                 medvlt_reward_paper([text], answer_label=["B"], answer=["COPD"]),
                                 format_reward([text])),
        "distill trace": lambda: reasoning_of(Completion(text)),
    }  # fmt: skip
    seconds = {check: _timed(function) for check, function in checks.items()}
    slow = {check: round(s, 3) for check, s in seconds.items() if s >= 1.0}
    assert not slow, f"{name}: {slow}"
