from sweepops.cli.commands import main

raise SystemExit(main())
