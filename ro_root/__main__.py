from ro_root.cli import main

raise SystemExit(main())
