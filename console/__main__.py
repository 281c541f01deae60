"""`python -m console` runs the CLI (as the `ganyun` script does), with the same exit code.

The app runs with standalone_mode=False, so a command that ends with `typer.Exit(code)` hands
the code back instead of exiting: pass it on, as the `ganyun` script's `sys.exit(app())` does.
"""

import sys

from console.cli import app

code = app()
sys.exit(code if isinstance(code, int) else 0)
