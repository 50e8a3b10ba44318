"""``python -m vdc_tui`` is the ``vdc-tui`` command."""

from .cli.main import console_main

raise SystemExit(console_main())
