"""``asmg bench``: compare update methods on the same periods."""
