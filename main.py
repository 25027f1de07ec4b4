"""Entry point for `python main.py ...` and for the frozen (PyInstaller) build."""

from app.__main__ import main

if __name__ == "__main__":
    raise SystemExit(main())
