"""One module per lecture claim; `python -m experiments` runs them all and writes a report."""
