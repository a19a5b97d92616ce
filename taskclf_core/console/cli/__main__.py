"""``python -m taskclf_core.console.cli``."""

from taskclf_core.console.cli import main

if __name__ == "__main__":
    main()
