"""`python -m console` runs the CLI (as the `ganyun` script does)."""

from console.cli import app

app()
