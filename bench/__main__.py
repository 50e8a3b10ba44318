"""``python -m bench`` (``make bench``)."""

from .runner import main

raise SystemExit(main())
