from nmre.cli import main

raise SystemExit(main())
