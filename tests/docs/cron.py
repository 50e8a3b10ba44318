"""Crontab lines read with the rules of cron (Vixie cron / cronie, a user's crontab).

What ``crontab FILE`` accepts, and what then runs: a line is blank, a ``#`` comment, an
environment setting ``NAME=value`` (taken literally: no ``~``, no ``$VAR``), or an entry of
five time fields (or ``@hourly`` and the like) and a command. A command has no line
continuation (cron reads a trailing ``\\`` as part of the command and the next line as a new
entry: "bad minute … errors in crontab file"), and an unescaped ``%`` ends the command (the
rest goes to its stdin). Cron runs the command with ``PATH=/usr/bin:/bin``, so a program is
named by its full path unless the crontab sets ``PATH``: here every program of the command
(each one of a pipeline or list, ``a | b``, ``a && b``, ``a; b``) is judged, and ``vdc-tui``
never passes by its bare name, even as the program a wrapper such as ``timeout`` or ``flock`` runs.
"""

from __future__ import annotations

import re
import shlex

_ENV = re.compile(r"^\s*(?P<q>['\"]?)(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P=q)\s*=\s*(?P<value>.*)$")
_ASSIGN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
#: Programs that run another program named in their arguments.
_WRAPPERS = frozenset({"env", "nice", "timeout", "flock", "exec", "nohup", "ionice"})
#: Programs that cron's PATH=/usr/bin:/bin finds on any Linux (and the shell's builtins).
_ON_CRONS_PATH = frozenset({
    "sh", "test", "[", "true", "false", "echo", "printf", "cat", "date", "grep", "sed", "awk",
    "logger", "mv", "cp", "rm", "mkdir", "chmod", "touch", "tee", "head", "tail", "gzip",
    "find", "xargs", "env", "nice", "timeout", "flock", "cd", "exec", "export", "umask", ".",
})

_SPECIAL = {"@reboot", "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight",
            "@hourly"}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: (name, lowest, highest, names) of the five time fields.
_FIELDS = [("minute", 0, 59, None), ("hour", 0, 23, None), ("day of month", 1, 31, None),
           ("month", 1, 12, _MONTHS), ("day of week", 0, 7, _DAYS)]


def _number(text: str, low: int, high: int, names: list[str] | None) -> int:
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if names is _MONTHS else 0)
    if not text.isdigit() or not low <= int(text) <= high:
        raise ValueError(f"{text!r} is not in {low}-{high}")
    return int(text)


def _check_field(text: str, name: str, low: int, high: int, names: list[str] | None) -> None:
    for item in text.split(","):
        span, _, step = item.partition("/")
        if step and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"bad {name}: step {step!r}")
        if span == "*":
            continue
        first, dash, last = span.partition("-")
        try:
            start = _number(first, low, high, names)
            if dash and _number(last, low, high, names) < start:
                raise ValueError("range runs backwards")
        except ValueError as problem:
            raise ValueError(f"bad {name} {item!r}: {problem}") from None


def check_crontab(text: str) -> list[str]:
    """The problems of a crontab, one per bad line (an empty list when cron takes it all)."""
    problems: list[str] = []
    path_set = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            problems.append(f"line {number}: ends with '\\': cron has no line continuations")
            continue
        if env := _ENV.match(line):
            words = stripped.split()
            if not (words[0][0] in "@*" or words[0][0].isdigit()):
                value = env["value"]
                if "~" in value or "$" in value:
                    problems.append(f"line {number}: {env['name']}= is taken literally by "
                                    "cron (no ~ or $VAR expansion)")
                path_set = path_set or env["name"] == "PATH"
                continue
        words = stripped.split()
        if words[0].startswith("@"):
            if words[0] not in _SPECIAL:
                problems.append(f"line {number}: unknown {words[0]}")
                continue
            command = stripped[len(words[0]):].strip()
        else:
            if len(words) < 6:
                problems.append(f"line {number}: five time fields and a command expected")
                continue
            try:
                for word, (name, low, high, names) in zip(words[:5], _FIELDS, strict=True):
                    _check_field(word, name, low, high, names)
            except ValueError as problem:
                problems.append(f"line {number}: {problem}")
                continue
            command = re.split(r"\s+", stripped, maxsplit=5)[5]
        if re.search(r"(?<!\\)%", command):
            problems.append(f"line {number}: an unescaped % ends cron's command")
            continue
        try:
            segments = _segments(command)
        except ValueError as problem:
            problems.append(f"line {number}: {problem}")
            continue
        for argv in segments:
            while argv and _ASSIGN.match(argv[0]):
                argv.pop(0)
            if not argv:
                problems.append(f"line {number}: no command")
                break
            # A wrapper runs its argument as a program: a bare vdc-tui there is not found.
            wrapper = argv[0].rsplit("/", 1)[-1] in _WRAPPERS
            bare = argv[0] == "vdc-tui" or (wrapper and "vdc-tui" in argv)
            if path_set:
                continue
            if not argv[0].startswith("/") and argv[0] not in _ON_CRONS_PATH or bare:
                program = argv[0] if not bare else "vdc-tui"
                problems.append(f"line {number}: {program!r} is not found with cron's "
                                "PATH=/usr/bin:/bin: name its full path or set PATH")
                break
    return problems


def _segments(command: str) -> list[list[str]]:
    """The words of each simple command of a pipeline or list, quotes respected, without
    its redirections (``> FILE``, ``2>> FILE``, ``2>&1``: their targets are no programs)."""
    plain = re.sub(r"\d*>>?&\d+|\d*(?:>>?|<)\s*(?:\"[^\"]*\"|'[^']*'|[^\s;&|]+)", " ", command)
    lexer = shlex.shlex(plain, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    segments: list[list[str]] = [[]]
    for token in lexer:
        if set(token) <= set(";&|"):
            segments.append([])
        else:
            segments[-1].append(token)
    return [words for words in segments if words] or [[]]


def looks_like_cron_entry(line: str) -> bool:
    """Whether a line of any code block reads as a crontab entry."""
    words = line.split()
    if not words:
        return False
    if words[0] in _SPECIAL:
        return len(words) > 1
    return len(words) > 5 and all(re.fullmatch(r"[\d*/,\-]+|[A-Za-z]{3}", w) for w in words[:5]) \
        and any(ch.isdigit() or ch == "*" for ch in words[0]) and words[0][0] in "*0123456789"
