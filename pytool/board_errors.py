"""What an OSError raised on the board means, in one line: MicroPython reports file errors as
`OSError: [Errno 19] ENODEV` (Pycom) or `OSError: [Errno 2] ENOENT`; users get what happened and what to do."""

from __future__ import annotations

import re

from pytool.errors import PytoolError

_ERRNO = re.compile(r"OSError: \[Errno (\d+)\]|OSError: (\d+)\b")
LIST_HINT = "list the files with `pytool ls -r`"

#: errno -> (what happened to PATH, what to do); {path} and {doing} are filled in.
MEANINGS: dict[int, tuple[str, str]] = {
    2: ("{path}: no such file or folder on the board", LIST_HINT),
    19: (
        "{path}: no such file or folder on the board (it is on no mounted volume)",
        "board paths start with /flash (or /sd when a card is mounted); " + LIST_HINT,
    ),
    17: ("{path} already exists on the board", "remove it first (`pytool rm {path}`) or choose another name"),
    20: ("{path}: a part of the path is a file, not a folder", LIST_HINT),
    21: ("{path} is a folder", "give a file path, or use -r for folders"),
    39: ("{path} is a folder that is not empty", "use `pytool rm -r {path}` to delete it with its contents"),
    28: ("the board's filesystem is full while {doing} {path}", "free space (`pytool df`, `pytool rm`) and run again"),
    30: ("the board's filesystem is read-only", "reset the board (`pytool reset`); if it persists, reformat /flash"),
    13: ("{path}: permission denied on the board", "choose another path under /flash"),
}


#: Pycom's uhashlib allows one hash at a time, by a flag that only a digest or a hard reset clears (moduhashlib.c)
HASH_BUSY = "only one active hash operation is permitted at a time"


def hint_for(traceback: str) -> str | None:
    """What to do about an error the board raised, where its last line alone does not say it."""
    if HASH_BUSY in traceback:
        return (
            "a program on the board started a hash and never finished it, and Pycom's firmware allows one at a time "
            "until a hard reset: run `pytool reset` (or press the board's reset button), then try again"
        )
    return None


def errno_of(traceback: str) -> int | None:
    """The errno of the last OSError in a board traceback, or None."""
    found = _ERRNO.findall(traceback)
    if not found:
        return None
    number = found[-1][0] or found[-1][1]
    return int(number)


def fs_error(exc: PytoolError, traceback: str, path: str, doing: str = "working on") -> PytoolError:
    """`exc` (an error raised on the board while `doing` something with `path`) as one plain line, when it is a
    known OSError; else `exc` itself."""
    number = errno_of(traceback)
    if number not in MEANINGS:
        return exc
    what, hint = MEANINGS[number]
    if number == 17 and doing == "creating":  # mkdir makes missing parents and keeps folders: a file is in the way
        what += " as a file"
    return PytoolError(what.format(path=path, doing=doing), hint.format(path=path))


_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+)')


def last_traceback(text: str) -> tuple[str, str | None] | None:
    """(exception line, "file:line" of the innermost frame) of the last MicroPython traceback in `text`, or None.
    The exception line is the first line after the frames ("ZeroDivisionError: divide by zero")."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Traceback (most recent call last)")]
    if not starts:
        return None
    where = None
    for line in lines[starts[-1] + 1 :]:
        if frame := _FRAME.match(line):
            where = f"{frame.group(1)}:{frame.group(2)}"
        elif line.strip():
            return line.strip(), where
    return "an exception (its text was cut off)", where
