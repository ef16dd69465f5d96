"""GitHub Actions I/O: workflow commands, outputs and the step summary.

Outside Actions (``python -m release`` on a laptop) the same calls print plain text,
so one code path serves both. Escaping follows the actions/toolkit ``command.ts`` rules.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TextIO

from .inputs import Front, render

# The runner refuses a step summary above 1 MiB.
SUMMARY_LIMIT = 1024 * 1024


def escape_data(text: str) -> str:
    """Escape a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow command's property value (``title=...``)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def neutralise(text: str) -> str:
    """Outside text made safe for the log: no ANSI codes, and no line (however it was
    broken: a bare CR counts for the runner) that holds a workflow command."""
    lines = ANSI.sub("", text).splitlines() or [""]
    return "\n".join(_defuse(line) for line in lines)


def _defuse(line: str) -> str:
    # The runner reads two forms (actions/runner src/Runner.Common/ActionCommand.cs):
    # ``::name::`` at the start of a line (TryParseV2), and the legacy ``##[name]``
    # anywhere in it (TryParse). A zero-width space splits either marker: the runner
    # sees no command, the reader the same text. (The runner matches the markers by
    # culture, which may skip that space; the name it then reads starts with ':' or '['
    # and is no command.)
    line = line.replace("##[", "##\u200b[")
    return line.replace("::", ":\u200b:", 1) if line.lstrip().startswith("::") else line


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: none of them
# belongs in a reason phrase or a file name shown in the log.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


MIN_MASKED = 4


def is_terminal(stream: object) -> bool:
    """Whether a stream is a terminal (False for one that cannot tell, or is closed)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def random_token() -> str:
    """128 random bits in hex, from the system's source (what secrets.token_hex does;
    importing secrets costs the first log line ~5 ms)."""
    return os.urandom(16).hex()


def printable(text: str, limit: int = 200) -> str:
    """Outside text (a server's reason phrase) for a message: control characters shown
    escaped (``\\r``), and cut at ``limit`` characters."""
    shown = _CONTROL.sub(lambda m: repr(m.group())[1:-1], text)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


class Console:
    """Where every line the action prints goes; knows whether it runs in Actions.

    Everything printed goes through ``neutralise`` (our text can hold outside text: a
    server's reason, a file name), and annotations name inputs the way the user sees
    them (``render``: an input in a workflow, a flag on the command line).
    """

    def __init__(
        self,
        *,
        actions: bool,
        verbose: bool = False,
        stream: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.actions = actions
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        self.err = err if err is not None else sys.stderr  # where progress is drawn
        self._secrets: list[str] = []
        self._lock = threading.Lock()
        self._divert: Callable[[str], None] | None = None

    @property
    def front(self) -> Front:
        return "action" if self.actions else "cli"

    @property
    def draws(self) -> bool:
        """Whether progress is drawn (bars on ``err``): a terminal there, outside Actions,
        and not verbose (the raw log then, where a bar is noise)."""
        return not self.actions and not self.verbose and is_terminal(self.err)

    @property
    def on_terminal(self) -> bool:
        """Whether the lines go to a terminal."""
        return is_terminal(self.stream)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[Console]:
        """A console whose lines reach this one's stream only when it closes, whole and
        in order: for work logged beside other logged work (its groups would otherwise
        interleave with the others'). It masks what this one masks."""
        held = io.StringIO()
        other = Console(actions=self.actions, verbose=self.verbose, stream=held, err=self.err)
        other._secrets = self._secrets  # shared: a secret masked later is scrubbed there too
        try:
            yield other
        finally:
            if held.getvalue():
                with self._lock:
                    self.stream.write(held.getvalue())
                    self.stream.flush()

    @contextlib.contextmanager
    def divert(self, write: Callable[[str], None]) -> Iterator[None]:
        """Lines go through ``write`` for a while, already neutralised and whole: while a
        display is drawn on their terminal, a line written past it would be drawn over."""
        with self._lock:
            self._divert = write
        try:
            yield
        finally:
            with self._lock:
                self._divert = None

    def mask(self, secret: str) -> None:
        """Register a secret: masked by the runner and scrubbed from our own output.

        A value shorter than MIN_MASKED is not one: masking "x" or "ab" would blank out
        every such letter of the log and hide nothing."""
        if len(secret.strip()) < MIN_MASKED or secret in self._secrets:
            return
        # Longest first: no partial scrubs. Replaced whole, in place (one slice
        # assignment): a thread scrubbing meanwhile sees the old list or the new one,
        # never one half sorted (list.sort empties the list while it sorts).
        self._secrets[:] = sorted([*self._secrets, secret], key=len, reverse=True)
        if self.actions:
            # Each line of a multi-line secret is masked on its own by the runner.
            for line in secret.splitlines():
                if line.strip():
                    self._write(f"::add-mask::{escape_data(line)}")

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _write(self, line: str) -> None:
        with self._lock:  # uploads run side by side: whole lines, never interleaved
            if self._divert is not None:
                self._divert(line)
                return
            self.stream.write(line + "\n")
            self.stream.flush()

    def render(self, text: str) -> str:
        return render(text, self.front)

    def line(self, text: str = "") -> None:
        """Print text (secrets scrubbed, workflow commands neutralised)."""
        self._write(neutralise(self.scrub(text)))

    def _annotation(self, kind: str, message: str, title: str) -> None:
        message = self.scrub(self.render(message))
        if self.actions:
            props = f" title={escape_property(self.scrub(title))}" if title else ""
            self._write(f"::{kind}{props}::{escape_data(ANSI.sub('', message))}")
        else:
            self._write(neutralise(f"{kind}: {message}"))

    def error(self, message: str, title: str = "") -> None:
        self._annotation("error", message, title)

    def warning(self, message: str, title: str = "") -> None:
        self._annotation("warning", message, title)

    def notice(self, message: str, title: str = "") -> None:
        self._annotation("notice", message, title)

    @contextlib.contextmanager
    def group(self, title: str) -> Iterator[None]:
        """A collapsed log group in Actions; a heading elsewhere."""
        if self.actions:
            self._write(f"::group::{escape_data(self.scrub(title))}")
        else:
            self._write(f"-- {neutralise(self.scrub(title))}")
        try:
            yield
        finally:
            if self.actions:
                self._write("::endgroup::")

    @contextlib.contextmanager
    def raw(self) -> Iterator[Callable[[str], None]]:
        """Stream a tool's output as it comes. In Actions it sits between
        ``::stop-commands::`` and its random token, so nothing in it is a command."""
        token = random_token()
        if self.actions:
            self._write(f"::stop-commands::{token}")
        try:
            yield lambda text: self._write(
                self.scrub(ANSI.sub("", text)).replace("\r", "\n").rstrip("\n")
            )
        finally:
            if self.actions:
                self._write(f"::{token}::")


def write_outputs(path: Path, outputs: Mapping[str, str]) -> None:
    """Append outputs in the ``name<<DELIMITER`` form, safe for any value."""
    with path.open("a", encoding="utf-8") as fh:
        for name, value in outputs.items():
            delimiter = f"ghadelimiter_{random_token()}"
            if delimiter in value:  # pragma: no cover - 128 random bits
                raise ValueError("output value contains the delimiter")
            fh.write(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")


def append_summary(path: Path, markdown: str) -> None:
    """Append Markdown to the step summary, keeping the file under the runner's cap."""
    used = path.stat().st_size if path.exists() else 0
    data = markdown.encode("utf-8")
    room = SUMMARY_LIMIT - used
    if len(data) > room:
        note = b"\n\n_(summary truncated: the step summary is limited to 1 MiB)_\n"
        if room <= len(note):
            return
        data = data[: room - len(note)].decode("utf-8", "ignore").encode() + note
    with path.open("ab") as fh:
        fh.write(data)
