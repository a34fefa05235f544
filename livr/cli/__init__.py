"""Command-line interface: `livr <command> ...`."""
