from paysource.entrypoints.cli import main

raise SystemExit(main())
