"""Placeholder replaced by the CLI (issue 6)."""

import sys


def main() -> int:
    print("realtone CLI: not available yet", file=sys.stderr)
    return 2
