"""``python -m edge``: see ``python -m edge --help``."""

from edge.cli import main

raise SystemExit(main())
