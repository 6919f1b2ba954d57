from metricwatch.cli import main

raise SystemExit(main())
