from torchup.cli import entry

raise SystemExit(entry())
