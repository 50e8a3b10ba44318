"""``python -m vdc_tui`` is the ``vdc-tui`` command."""

from .cli.main import main

raise SystemExit(main())
