"""Secrets are never written or shown: one rule for the keys of recorded settings, one scrubber for text.

**Keys** (:func:`is_secret_key`, :func:`redact`). A key names a secret when its last word (lower case; ``_``,
``-`` and spaces separate words) is one of :data:`SECRET_WORDS` (token, secret, password, key, credentials,
...), as in ``hub_token``, ``HF_TOKEN``, ``api_key``, ``client-secret``, ``password``. Not secrets:

- a key whose last word is another one, even if it holds a secret word: ``api_key_env`` names an
  environment variable, ``max_tokens`` counts tokens, ``token_count`` is a number;
- ``key`` alone (a lookup key: a benchmark's, a checkpoint's);
- the names in :data:`HARMLESS`: a tokenizer's special tokens (``pad_token``, ``eos_token``, ...) and
  medvlt's own lookup keys (``dedup_key``).

:func:`redact` returns a copy of a settings mapping (nested mappings and lists too) in which every secret
key with a value holds :data:`PLACEHOLDER` (an unset one, None or ``""``, is kept: it shows that none was
given), and every string is cleared of the known secret values (below). The credential shapes are
left to text: a recorded name that merely looks like one (a Hub id ``org/hf_...``) stays as it is.

**Text** (:func:`scrub`): error messages, server error bodies, log lines. Replaced by :data:`PLACEHOLDER`:

- known secret values: those given to :func:`remember` (the API key a client sends), the Hugging Face
  token in use, and the value of every environment variable named like a secret (``HF_TOKEN``,
  ``OPENAI_API_KEY``); values shorter than :data:`MIN_LENGTH`, with spaces, or (from the environment) a
  plain lower-case word are left alone, as replacing them would garble the text;
- text shaped like a credential: Hugging Face tokens (``hf_`` and 16 or more letters and digits),
  OpenAI-style keys (``sk-...``), the value after ``Bearer`` or ``Basic``, the password of a URL's
  ``user:password@``, and the value of a secret-named key written ``key=value`` or ``key: value``.

A value cut in two (a message quoting the first characters of a server's body) no longer matches; so
scrub first, then cut.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "HARMLESS",
    "MIN_LENGTH",
    "PLACEHOLDER",
    "SECRET_WORDS",
    "is_secret_key",
    "redact",
    "remember",
    "scrub",
]

#: What a secret value becomes, in settings and in text.
PLACEHOLDER = "***"
#: The last words that make a key name a secret.
SECRET_WORDS = frozenset(
    {"token", "secret", "password", "passwd", "passphrase", "key", "apikey", "credential", "credentials",
     "authorization", "cookie"}
)  # fmt: skip
#: Keys that end in a secret word but hold no secret.
HARMLESS = frozenset(
    {"key", "pad_token", "eos_token", "bos_token", "unk_token", "sep_token", "cls_token", "mask_token",
     "image_token", "video_token", "dedup_key"}
)  # fmt: skip
#: Known secret values shorter than this are not replaced in text (an explicit one always is).
MIN_LENGTH = 8

_REMEMBERED: set[str] = set()
_WORDS = re.compile(r"[\s_-]+")
_SHAPES = (
    (re.compile(r"\bhf_[A-Za-z0-9]{16,}"), PLACEHOLDER),
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), PLACEHOLDER),
    (re.compile(r"(?i)\b(bearer)(\s+)[^\s\"',;]+"), rf"\1\2{PLACEHOLDER}"),
    (re.compile(r"\b(Basic)(\s+)[A-Za-z0-9+/]{6,}=*"), rf"\1\2{PLACEHOLDER}"),
    (re.compile(r"(://[^/\s:@]+):[^/\s@]+@"), rf"\1:{PLACEHOLDER}@"),
)
_ASSIGNED = re.compile(
    rf"(?i)\b(?P<name>[a-z][\w-]*?(?:{'|'.join(sorted(SECRET_WORDS))}))"
    r"(?P<sep>[\"']?\s*[=:]\s*[\"']?)(?P<value>[^\s&\"',;{}\[\]]+)"
)


def is_secret_key(name: str) -> bool:
    """Whether a settings key names a secret (the rule in the module docstring)."""
    normal = "_".join(w for w in _WORDS.split(str(name).strip().lower()) if w)
    return normal not in HARMLESS and normal.rsplit("_", 1)[-1] in SECRET_WORDS


def remember(value: str | None) -> None:
    """Add ``value`` (an API key in use) to the secrets :func:`scrub` removes."""
    if value:
        _REMEMBERED.add(str(value))


def _known() -> list[str]:
    found = set(_REMEMBERED)
    found.update(
        value
        for name, value in os.environ.items()
        if is_secret_key(name) and not re.fullmatch(r"[a-z]*", value)
    )
    try:
        from huggingface_hub import get_token

        found.add(get_token() or "")
    except Exception:  # no token source readable: nothing more to remove
        pass
    usable = (v for v in found if len(v) >= MIN_LENGTH and not any(c.isspace() for c in v))
    return sorted(usable, key=len, reverse=True)


def _replace(text: str, known: Iterable[str]) -> str:
    for value in known:
        text = text.replace(value, PLACEHOLDER)
    return text


def _scrub(text: str, known: Iterable[str]) -> str:
    text = _replace(text, known)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)

    def assigned(match: re.Match) -> str:
        value = match["value"]
        if not is_secret_key(match["name"]) or value == PLACEHOLDER or value.lower() in ("bearer", "basic"):
            return match[0]
        return f"{match['name']}{match['sep']}{PLACEHOLDER}"

    return _ASSIGNED.sub(assigned, text)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` without the known secrets, ``secrets`` (replaced whatever their length) and anything
    shaped like a credential (module docstring)."""
    extra = sorted({s for s in secrets if s}, key=len, reverse=True)
    return _scrub(str(text), [*extra, *_known()])


def redact(settings: Any) -> Any:
    """A copy of ``settings`` (a mapping, list or value) with the value of every secret key replaced by
    :data:`PLACEHOLDER` and the known secret values removed from every string (module docstring)."""
    known = _known()

    def walk(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {
                key: PLACEHOLDER if is_secret_key(key) and item not in (None, "") else walk(item)
                for key, item in value.items()
            }
        if isinstance(value, list | tuple):
            return [walk(item) for item in value]
        if isinstance(value, str):
            return _replace(value, known)
        return value

    return walk(settings)
