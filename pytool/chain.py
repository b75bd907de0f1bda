"""`+`-chained commands (`pytool ls + exec "print(1)" + reset`): one board session for the whole chain, as with
mpremote. The CLI splits the command line at `+` and runs each command with a `SessionPool` in its context
(`CommandLine.sessions`); board commands take their session from it (`pytool.commands.common.board_session`),
so the port is opened, locked and put into the raw REPL once. Commands that open the port their own way (flash,
erase, bootloader, restore, deploy, test, watch) get it released first."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from pytool.repl import FRIENDLY_PROMPT

if TYPE_CHECKING:  # pytool.board is imported when a command needs the board, not at CLI start-up
    from pytool.board import BoardSession
    from pytool.ports import Target

SEPARATOR = "+"

#: Commands that work on the chain's shared session.
SESSION_COMMANDS = frozenset(
    [
        "ls",
        "cat",
        "get",
        "put",
        "rm",
        "mkdir",
        "df",
        "run",
        "exec",
        "eval",
        "repl",
        "reset",
        "info",
        "cp",
        "tree",
        "sha256sum",
        "touch",
        "rmdir",
        "sync",
    ]
)


def split(argv: list[str]) -> list[list[str]]:
    """The commands of a chained command line: `argv` cut at each `+` token before a `--`."""
    chain: list[list[str]] = [[]]
    for i, arg in enumerate(argv):
        if arg == "--":
            chain[-1].extend(argv[i:])
            break
        if arg == SEPARATOR:
            chain.append([])
        else:
            chain[-1].append(arg)
    return chain


class SessionPool:
    """The board session a chain of commands shares (opened by the first command that needs it)."""

    def __init__(self) -> None:
        self.session: BoardSession | None = None

    def get(self, target: Target) -> BoardSession:
        """The open session with `target` (a new one for another board); back in the raw REPL if a command left
        it (a reset, the REPL)."""
        if self.session is not None and self.session.target.url != target.url:
            self.release()
        if self.session is None:
            from pytool.board import BoardSession

            self.session = BoardSession.connect(target)
        elif not self.session.transport.in_raw_repl:
            # a command reset the board or left the raw REPL: let a booting board reach its prompt (or its main.py
            # run a while) before it is interrupted, as a new connection would find it
            self.session.transport.read_until(1, FRIENDLY_PROMPT, timeout=1, timeout_overall=4)
            self.session.enter_raw_repl()
        return self.session

    def release(self) -> None:
        """Close the shared session (the next command that needs the board opens a new one)."""
        session, self.session = self.session, None
        if session is not None:
            session.close()


@contextlib.contextmanager
def session(pool: SessionPool | None, target: Target) -> Iterator[BoardSession]:
    """A session with `target`: the chain's (left open for the next command) or, outside a chain, a new one."""
    if pool is None:
        from pytool.board import BoardSession

        with BoardSession.connect(target) as board:
            yield board
        return
    try:
        yield pool.get(target)
    except BaseException:
        pool.release()  # the chain stops here; the board may be in any state
        raise
