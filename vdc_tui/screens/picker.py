"""A keyboard-driven file picker for PFX certificates."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from rich.text import Text, TextType
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Static

from vdc_tui.connect.errors import scrub
from vdc_tui.widgets.text import home_relative, untrusted

CERTIFICATE_SUFFIXES = (".pfx", ".p12")


def is_certificate_file(path: Path) -> bool:
    """A file the picker offers: ``.pfx`` or ``.p12`` (any case)."""
    return path.suffix.lower() in CERTIFICATE_SUFFIXES


class CertificateTree(DirectoryTree):
    """Folders and PFX/P12 files only; hidden entries are left out."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        """Keep folders and certificate files."""
        kept = []
        for path in paths:
            if path.name.startswith("."):
                continue
            try:
                if path.is_dir() or is_certificate_file(path):
                    kept.append(path)
            except OSError:
                continue
        return kept

    def process_label(self, label: TextType) -> Text:
        """File names are untrusted: no control characters reach the terminal."""
        plain = label.plain if isinstance(label, Text) else label
        return Text(scrub(plain, limit=200))


class CertificatePicker(ModalScreen[Path | None]):
    """Browse folders for a ``.pfx``/``.p12`` file; returns its path or ``None``."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="picker.cancel",
                tooltip="Close without choosing a file"),
        Binding("backspace,u", "up", "Parent folder", id="picker.up",
                tooltip="Show the folder above"),
        Binding("h", "home", "Home folder", id="picker.home", tooltip="Show your home folder"),
    ]

    def __init__(self, start: Path) -> None:
        """Create the picker, showing ``start`` (a folder, or the folder of a file)."""
        super().__init__(id="picker")
        folder = start if start.is_dir() else start.parent
        self._folder = folder if folder.is_dir() else Path.home()

    def compose(self) -> ComposeResult:
        """Folder line, tree, hint."""
        with Vertical(classes="dialog picker"):
            yield Static("Select the certificate file (.pfx or .p12)", classes="dialog-title",
                         markup=False)
            yield Static(untrusted(home_relative(self._folder)), id="picker-folder")
            yield CertificateTree(self._folder, id="picker-tree")
            yield Static("Enter opens a folder or picks a file · Backspace: parent · Esc: cancel",
                         classes="dialog-hint", markup=False)

    def on_mount(self) -> None:
        """The tree has focus."""
        self.query_one(CertificateTree).focus()

    def _show(self, folder: Path) -> None:
        self._folder = folder
        self.query_one(CertificateTree).path = folder
        self.query_one("#picker-folder", Static).update(untrusted(home_relative(folder)))

    def action_up(self) -> None:
        """Show the parent folder."""
        if self._folder.parent != self._folder:
            self._show(self._folder.parent)

    def action_home(self) -> None:
        """Show the home folder."""
        self._show(Path.home())

    @on(DirectoryTree.FileSelected)
    def _picked(self, event: DirectoryTree.FileSelected) -> None:
        if is_certificate_file(event.path):
            self.dismiss(event.path)
