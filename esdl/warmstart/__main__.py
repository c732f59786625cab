"""``python -m esdl.warmstart zygote ...`` or ``... launch ...``."""

from __future__ import annotations

import sys
from pathlib import Path

from esdl.warmstart.launcher import launch


def main(argv: list[str] | None = None) -> int:
    """``python -m esdl.warmstart zygote ...`` or ``... launch ...``."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["launch"] and len(argv) >= 2:  # (quick: no argparse)
        launch(argv[1], argv[2:])
    import argparse

    import esdl.warmstart
    from esdl.warmstart.zygote import Zygote, _say

    about = (esdl.warmstart.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog="python -m esdl.warmstart", description=about)
    sub = parser.add_subparsers(dest="what", required=True)
    z = sub.add_parser("zygote", help="the warm process that forks flow runs")
    z.add_argument("--socket", type=Path, required=True)
    z.add_argument("--preload", action="append", default=[], help="an entry point file to import (repeatable)")
    la = sub.add_parser("launch", help="start a flow run through the zygote (the job's command)")
    la.add_argument("socket")
    la.add_argument("args", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.what == "launch":
        launch(args.socket, args.args)
    zygote = Zygote(args.socket, args.preload)
    try:
        took = zygote.prepare()
    except Exception as err:
        _say(f"cannot start: {err}")
        return 2
    _say(f"imported {len(sys.modules)} modules in {took:.1f} s (watching {len(zygote.files)} files)")
    child = zygote.serve()
    if child is None:
        _say("stopped")
        return 0
    child.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
