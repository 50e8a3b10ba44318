"""``python -m vdc_tui`` is the ``vdc-tui`` command."""

from vdc_tui.cli.main import console_main

raise SystemExit(console_main())
