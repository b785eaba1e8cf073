from torchup.cli import main

raise SystemExit(main())
