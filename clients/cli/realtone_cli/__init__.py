"""``realtone``: the command-line client."""
