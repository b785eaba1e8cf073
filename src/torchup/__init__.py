"""torchup: find, install, verify and diagnose the right PyTorch build for this machine."""

__version__ = "0.1.0"
