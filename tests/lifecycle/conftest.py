"""The command-line fixtures (private VDC_TUI_HOME, in-process ``main``) and the emulator
factory, shared with tests/cli."""

from cli.conftest import home, run  # noqa: F401  (fixtures)
