"""The `installer` marker: tests that compile and run the Windows installer under wine (minutes of setup).

Registered here rather than in pyproject.toml so the marker lives with the only tests that use it.
Run them alone with `python -m pytest -m installer tests/installer`.
"""


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "installer: compiles navbill.iss with ISCC and runs setup/uninstall under wine (needs wine32, Xvfb)"
    )
