"""Timing of the table model at 50,000 rows (printed, not asserted; not collected by pytest).

    QT_QPA_PLATFORM=offscreen .venv/bin/python tests/benchmarks/bench_ui.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.ui.base_tab import make_table  # noqa: E402
from app.ui.table_model import RowTableModel  # noqa: E402
from app.ui.vendors_tab import VENDOR_COLUMNS  # noqa: E402
from tests.gui.test_large_model import vendor_rows  # noqa: E402


def timed(label: str, action) -> None:
    start = time.perf_counter()
    action()
    print(f"{label:<45} {1000 * (time.perf_counter() - start):8.1f} ms")


def main() -> None:
    app = QApplication.instance() or QApplication([])
    rows = vendor_rows(50_000)
    model = RowTableModel(VENDOR_COLUMNS)
    view, proxy = make_table(model)
    view.resize(1200, 800)
    view.show()
    timed("set 50,000 rows", lambda: model.set_rows(rows))
    timed("rowCount + data() of one screen (40 rows)",
          lambda: [model.index(r, c).data() for r in range(40) for c in range(model.columnCount())])
    timed("data() of every cell in column 2", lambda: [model.index(r, 2).data() for r in range(50_000)])
    timed("paint (processEvents after scrollToBottom)", lambda: (view.scrollToBottom(), app.processEvents()))
    timed("filter text 'Vendor 4999'", lambda: proxy.set_text("Vendor 4999"))
    timed("clear filter", lambda: proxy.set_text(""))
    timed("sort by NAV name", lambda: proxy.sort(2, Qt.SortOrder.DescendingOrder))


if __name__ == "__main__":
    main()
