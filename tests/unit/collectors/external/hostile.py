"""Hostile variants of a recorded answer, generated for the provider parsers' adversarial tests (one generator
for every provider's tests).

:func:`truncations` cuts any body (JSON or XML) at many offsets; :func:`damaged` edits any body at random
(bytes flipped, runs deleted, junk inserted: JSON and XML syntax, NUL, invalid UTF-8, an entity declaration).
:func:`mutations` turns one real body into a corpus of what a provider, a proxy or an attacker could send
instead: the body cut at many offsets; every value (or a sample of them, for large bodies) replaced by each
kind of wrong value (null, booleans, huge and negative numbers, NaN and Infinity as JSON text and as strings,
over-long and unprintable strings, containers); keys removed; a value nested thousands of levels deep; the
body in other encodings (UTF-16, a BOM, Latin-1 bytes that are not UTF-8); and whole answers that are not
the provider's (HTML, empty, ``null``, binary). Each :class:`Mutation` says what was done and, for a change
at one place, the JSON path of that place, so a test can check that the rest of the answer still parses
exactly as before. The corpus is deterministic (seeded).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

JsonPath = tuple[str | int, ...]
PLACEHOLDER: Final = "@@MUTATION@@"
DEEP_LEVELS: Final = 5000
"""Nesting depth of the deep value: past msgspec's recursion guard as well as stdlib json's."""
WRONG_VALUES: Final[tuple[object, ...]] = (
    None,
    True,
    False,
    0,
    -1,
    -(10**9),
    2**63,
    10**30,
    1e308,
    -1e308,
    0.5,
    "",
    " ",
    "x",
    "-5",
    "1e400",
    "NaN",
    "Infinity",
    "9" * 400,
    "\u0000\u202e\ud7ff",
    "<script>alert(1)</script>",
    "A" * 100_000,
    [],
    {},
    [1, 2],
    {"a": {"b": [None]}},
)
"""Replacements for a value: each a plausible wrong type or an out-of-range, over-long or hostile value."""
TEXT_VALUES: Final = (b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400", b"123456789012345678901234567890")
"""Replacements written as raw JSON text: NaN and Infinity are not JSON; 1e400 overflows a double."""
JUNK: Final = (
    b'"',
    b"{",
    b"}",
    b"[",
    b"-",
    b"null",
    b"1e400",
    b"<",
    b">",
    b"&",
    b"&lol;",
    b"&#0;",
    b"]]>",
    b"<item>",
    b"</item>",
    b"<!ENTITY x 'y'>",
    b"<html>",
    b"\x00",
    b"\xff",
    b"\xe2\x80",
)
"""What :func:`damaged` inserts: fragments of JSON and XML syntax and bytes no text allows."""
MAX_EDITS: Final = 4
MAX_DELETED_BYTES: Final = 40
HTML_PAGE: Final = (
    b"<!DOCTYPE html><html><head><title>Access Denied</title></head><body><h1>Access Denied</h1>"
    b"<p>You don't have permission to access this resource.</p></body></html>"
)


@dataclass(frozen=True, slots=True)
class Mutation:
    """One hostile body: what was done to the recorded one, and where (None: the whole body)."""

    name: str
    body: bytes
    path: JsonPath | None = None


def mutations(
    body: bytes, *, seed: int, max_paths: int = 60, select: Callable[[JsonPath], bool] | None = None
) -> list[Mutation]:
    """The hostile corpus of ``body`` (a JSON document).

    The values mutated are those whose path ``select`` accepts (all by default), ``max_paths`` of them at most
    (sampled with ``seed``): a parser that skips part of an answer (a history it does not read) is tested on
    what it reads.
    """
    rng = random.Random(seed)
    document = json.loads(body)
    corpus = [Mutation(f"cut at byte {offset}", cut) for offset, cut in truncations(body)]
    paths = [path for path in _paths(document) if select is None or select(path)]
    sampled = paths if len(paths) <= max_paths else rng.sample(paths, max_paths)
    marker = json.dumps(PLACEHOLDER).encode()
    for path in sampled:
        template = _with_placeholder(document, path)  # one dump per path; each variant is spliced into it
        for value in (*(_dump(value) for value in WRONG_VALUES), *TEXT_VALUES, _deep()):
            corpus.append(Mutation(f"{_shown(path)} = {_short(value)}", template.replace(marker, value, 1), path))
        if isinstance(path[-1], str):
            corpus.append(Mutation(f"{_shown(path)} removed", _without(document, path), path))
    corpus.extend(_whole_bodies(body))
    return corpus


def truncations(body: bytes, *, every: int | None = None) -> Iterator[tuple[int, bytes]]:
    """(offset, ``body`` cut there): every ``every`` bytes (about 100 cuts by default) and each of the first and
    last 64 offsets, where a parser's header and closing checks are. A cut of trailing white space alone leaves
    a whole document, so the last offsets end at the last byte that is not white space."""
    end = len(body.rstrip())
    step = every or max(1, end // 97)
    offsets = set(range(0, end, step)) | set(range(min(64, end))) | set(range(max(0, end - 64), end))
    for offset in sorted(offsets):
        yield offset, body[:offset]


def damaged(body: bytes, rng: random.Random, junk: tuple[bytes, ...] = JUNK) -> bytes:
    """``body`` with 1 to ``MAX_EDITS`` random edits: a byte replaced, a run of bytes deleted, or ``junk``
    inserted (seed ``rng`` for a deterministic corpus)."""
    data = bytearray(body)
    for _ in range(rng.randint(1, MAX_EDITS)):
        at = rng.randrange(len(data)) if data else 0
        action = rng.randrange(3) if data else 2  # a short body deleted whole: only an insertion is left
        if action == 0:
            data[at] = rng.randrange(256)
        elif action == 1:
            del data[at : at + rng.randint(1, MAX_DELETED_BYTES)]
        else:
            data[at:at] = rng.choice(junk)
    return bytes(data)


def _whole_bodies(body: bytes) -> Iterator[Mutation]:
    text = body.decode("utf-8")
    yield Mutation("UTF-16", text.encode("utf-16"))
    yield Mutation("UTF-8 with a BOM", b"\xef\xbb\xbf" + body)
    yield Mutation("Latin-1 bytes that are not UTF-8", body.replace(b'"', b'"\xe9', 1))
    yield Mutation("an invalid UTF-8 byte in every string", body.replace(b'":"', b'":"\xff'))
    yield Mutation("HTML page", HTML_PAGE)
    yield Mutation("HTML page after whitespace", b"\r\n  " + HTML_PAGE)
    yield Mutation("empty body", b"")
    yield Mutation("null", b"null")
    yield Mutation("empty list", b"[]")
    yield Mutation("empty object", b"{}")
    yield Mutation("a number", b"42")
    yield Mutation("a string", b'"data"')
    yield Mutation("NUL bytes", b"\x00" * 256)
    yield Mutation("binary", bytes(range(256)) * 4)
    yield Mutation("whole body nested deep", b"[" * DEEP_LEVELS + body + b"]" * DEEP_LEVELS)
    yield Mutation("two documents", body + body)
    yield Mutation("trailing garbage", body + b"<")


def _paths(value: object, path: JsonPath = ()) -> Iterator[JsonPath]:
    """Every value's path, containers included, depth first (the root excluded)."""
    if isinstance(value, dict):
        for key, child in value.items():
            yield (*path, key)
            yield from _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield (*path, index)
            yield from _paths(child, (*path, index))


def _parent(document: object, path: JsonPath) -> Any:
    parent: Any = document
    for step in path[:-1]:
        parent = parent[step]
    return parent


def _with_placeholder(document: object, path: JsonPath) -> bytes:
    """``document`` dumped with the value at ``path`` replaced by the placeholder (``document`` is restored)."""
    parent = _parent(document, path)
    kept = parent[path[-1]]
    parent[path[-1]] = PLACEHOLDER
    try:
        return _dump(document)
    finally:
        parent[path[-1]] = kept


def _without(document: object, path: JsonPath) -> bytes:
    """``document`` dumped without the key at ``path`` (``document`` is restored, in its order)."""
    parent = _parent(document, path)
    kept = dict(parent)
    del parent[path[-1]]
    try:
        return _dump(document)
    finally:
        parent.clear()
        parent.update(kept)


def _deep() -> bytes:
    return b"[" * DEEP_LEVELS + b"]" * DEEP_LEVELS


def _dump(document: object) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


def _shown(path: JsonPath) -> str:
    return "$" + "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path)


def _short(value: bytes) -> str:
    text = value.decode("utf-8", "replace")
    return text if len(text) <= 40 else f"{text[:40]}... ({len(text):,} characters)"
