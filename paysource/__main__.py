from paysource.cli import main

raise SystemExit(main())
