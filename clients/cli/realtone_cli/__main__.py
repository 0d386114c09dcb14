"""``python -m realtone_cli`` is ``realtone``."""

import sys

from realtone_cli.main import main

sys.exit(main())
