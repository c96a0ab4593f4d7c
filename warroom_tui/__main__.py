from warroom_tui.start import entry

raise SystemExit(entry())
