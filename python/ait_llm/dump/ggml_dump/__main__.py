"""`python -m ait_llm.dump.ggml_dump --help`: see cli.py."""
import sys

from .cli import main

sys.exit(main())
