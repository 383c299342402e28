"""``python -m entrypoints.cli``: the same as the installed ``wallet`` command."""

import sys

from entrypoints.cli import main

sys.exit(main())
