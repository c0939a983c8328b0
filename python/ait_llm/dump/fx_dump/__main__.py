"""`python -m ait_llm.dump.fx_dump --help`: see cli.py."""
import sys

from .cli import main

sys.exit(main())
