"""``python -m truthguard`` runs the command-line tool."""

import sys

from truthguard.cli.main import main

sys.exit(main())
