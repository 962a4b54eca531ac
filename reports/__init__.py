"""Reports built from results files (CONTRACT.md section 2). `python -m reports --help`."""
