from warroom_tui.cli import main

raise SystemExit(main())
