from setpoint.cli import main

raise SystemExit(main())
