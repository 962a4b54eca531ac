"""Reports built from results files (docs/RESULTS.md). `python -m reports --help`."""
