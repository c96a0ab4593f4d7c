from warroom_tui.cli import entry

raise SystemExit(entry())
