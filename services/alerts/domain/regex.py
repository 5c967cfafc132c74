"""The regexes users write (silence and filter matchers, the `receiver` filter), on RE2.

Python's `re` backtracks: `(x+x+)+y` against forty `x`s takes longer than the universe has
left, and one such silence stopped the alerts service answering. RE2 (the engine Go's
`regexp` follows, so the one Alertmanager matches with) runs in time linear in the text
whatever the pattern, and refuses what it cannot do that way (backreferences, lookaround),
which Alertmanager refuses too. Patterns are anchored at both ends, as Alertmanager's, and
capped: in length here, in compiled size by RE2's memory budget.
"""

from __future__ import annotations

from functools import lru_cache

import re2

MAX_PATTERN_CHARS = 1024
# RE2's budget for one compiled pattern (its default is 8 MiB); a pattern past it fails to
# compile and is refused as invalid instead of allocating more.
MAX_PROGRAM_BYTES = 1 << 20


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re2._Regexp[str]:
    """The compiled `^(?:pattern)$`; ValueError when it is too long or not RE2 syntax."""
    if len(pattern) > MAX_PATTERN_CHARS:
        raise ValueError(f"a regex may have at most {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.max_mem = MAX_PROGRAM_BYTES
    options.log_errors = False  # the error is the client's answer, not the service's log
    try:
        return re2.compile(f"^(?:{pattern})$", options)
    except re2.error as exc:
        reason = exc.args[0].decode(errors="replace") if exc.args else "invalid"
        raise ValueError(f"invalid regex {pattern!r}: {reason}") from exc


def full_match(pattern: str, text: str) -> bool:
    """Whether all of `text` matches `pattern` (which must compile: see `compile_anchored`)."""
    return compile_anchored(pattern).search(text) is not None
