"""The `puregrpc` command: `puregrpc generate ...`, and `list`, `describe`, `call`, `health`
(puregrpc._cli)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

USAGE = """usage: puregrpc generate [-I DIR] [--out DIR] FILE.proto ...
       puregrpc list ADDR [SERVICE]
       puregrpc describe ADDR [SYMBOL]
       puregrpc call ADDR pkg.Service/Method [JSON | -]
       puregrpc health ADDR [SERVICE]
       puregrpc COMMAND --help  (for the options of each)"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command == "generate":
        from ._codegen.generate import main as generate

        return generate(rest)
    if command in ("list", "describe", "call", "health"):
        from ._cli.main import main as cli

        return cli(args)
    print(f"puregrpc: unknown command {command!r}\n{USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
