"""``python -m asmg_cli`` = ``asmg``."""

import sys

from asmg_cli.main import main

sys.exit(main())
