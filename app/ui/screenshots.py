"""`python -m app.ui.screenshots --out docs/screenshots`: the README's pictures, made on purpose.

Runs the window on the embedded demo sandboxes (a throw-away home), syncs once, and saves every tab
and every page of the setup wizard, under a light and a dark palette (``<name>.png`` and
``<name>-dark.png``). Tests never write here; they render to a temporary folder and only check that
the pictures are not blank (``is_blank``).

Run it with a real display or under Xvfb (``xvfb-run -a python -m app.ui.screenshots``); the offscreen
platform works too but draws no window frame.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer
from PySide6.QtGui import QColor, QImage, QPalette
from PySide6.QtWidgets import QApplication, QWidget


def is_blank(image: QImage, minimum_colours: int = 8) -> bool:
    """True when a picture is (nearly) one colour: nothing was painted."""
    if image.isNull() or image.width() < 10 or image.height() < 10:
        return True
    seen: set[int] = set()
    step_x, step_y = max(1, image.width() // 60), max(1, image.height() // 60)
    for y in range(0, image.height(), step_y):
        for x in range(0, image.width(), step_x):
            seen.add(image.pixel(x, y))
            if len(seen) >= minimum_colours:
                return False
    return True


def dark_palette() -> QPalette:
    """A dark palette built from roles (what a dark desktop theme gives Qt)."""
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: "#2b2d30", QPalette.ColorRole.WindowText: "#e6e6e6",
        QPalette.ColorRole.Base: "#1e1f22", QPalette.ColorRole.AlternateBase: "#27292c",
        QPalette.ColorRole.ToolTipBase: "#3c3f41", QPalette.ColorRole.ToolTipText: "#e6e6e6",
        QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#3c3f41",
        QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.BrightText: "#ff6b6b",
        QPalette.ColorRole.Highlight: "#2f65ca", QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#6ea8ff", QPalette.ColorRole.PlaceholderText: "#8c8c8c",
        QPalette.ColorRole.Mid: "#4a4d50", QPalette.ColorRole.Dark: "#1a1b1d", QPalette.ColorRole.Light: "#505357",
    }
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Base, QColor("#2b2d30"))  # greyed out
    palette.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Button, QColor("#323437"))
    return palette


def wait_until(condition: Callable[[], bool], timeout_ms: int = 120_000) -> bool:
    loop = QEventLoop()
    timer = QTimer()
    timer.setInterval(50)
    waited = [0]

    def tick() -> None:
        waited[0] += 50
        if condition() or waited[0] >= timeout_ms:
            loop.quit()

    timer.timeout.connect(tick)
    timer.start()
    if not condition():
        loop.exec()
    timer.stop()
    return condition()


def settle(ms: int = 150) -> None:
    wait_until(lambda: False, ms)
    QApplication.processEvents()


def save(widget: QWidget, out: Path, name: str, dark: bool) -> Path:
    settle()
    image = widget.grab().toImage()
    if is_blank(image):
        raise RuntimeError(f"{name}: the picture is blank")
    path = out / f"{name}{'-dark' if dark else ''}.png"
    if not image.save(str(path)):
        raise RuntimeError(f"{name}: could not write {path}")
    print(path)
    return path


def shoot_tabs(window, out: Path, dark: bool) -> list[Path]:
    from app.ui.rows import HoldReason, VendorState

    paths = []
    window.tabs.setCurrentWidget(window.vendors_tab)
    if not window.vendors_tab.select_where(lambda r: r.state == VendorState.CONFLICT):
        window.vendors_tab.select_where(lambda r: r.state == VendorState.PROPOSED)
    paths.append(save(window, out, "main-window", dark))
    paths.append(save(window, out, "vendors", dark))
    window.tabs.setCurrentWidget(window.invoices_tab)
    window.invoices_tab.select_where(lambda r: r.hold_reason != HoldReason.NONE)
    paths.append(save(window, out, "pending-invoices", dark))
    window.tabs.setCurrentWidget(window.payments_tab)
    paths.append(save(window, out, "payments", dark))
    window.tabs.setCurrentWidget(window.failures_tab)
    window.failures_tab.select_where(lambda r: True)
    paths.append(save(window, out, "failed-postings", dark))
    window.tabs.setCurrentWidget(window.mappings_tab)
    paths.append(save(window, out, "mappings", dark))
    window.tabs.setCurrentWidget(window.activity_tab)
    paths.append(save(window, out, "activity", dark))
    return paths


def fill_wizard(wizard, sandboxes) -> None:
    """What a clerk types for the demo sandboxes (the pictures show a wizard that is filled in and passing)."""
    from urllib.parse import urlsplit

    from app.sandbox import demo_data

    nav = wizard.nav_page
    address = urlsplit(sandboxes.nav_url)
    nav.profile_name.setText("CRONUS Fabrication")
    nav.server.setText(address.hostname)
    nav.port.setValue(address.port)
    nav.instance.setText(demo_data.SERVER_INSTANCE)
    nav.company.setText(demo_data.COMPANY_NAME)
    nav.user.setText(demo_data.NAV_USER)
    nav.web_service_key.setText(demo_data.NAV_WEB_SERVICE_KEY)
    bill = wizard.bill_page
    bill.environment.setCurrentIndex(bill.environment.findData("other"))
    bill.gateway.setText(sandboxes.bill_url)
    bill.username.setText(demo_data.BILL_USERNAME)
    bill.password.setText(demo_data.BILL_PASSWORD)
    bill.organization.setText(demo_data.BILL_ORGANIZATION_ID)
    bill.dev_key.setText(demo_data.BILL_DEV_KEY)
    wizard.payments_page.balancing_account.setText("2910")


def shoot_wizard(session, out: Path, dark: bool, sandboxes) -> list[Path]:
    """Every page of the first-run wizard, walked with Next as a clerk does (the first page empty, as it opens)."""
    from PySide6.QtWidgets import QWizard

    from app.ui.settings import SetupWizard

    wizard = SetupWizard(session, first_run=True)
    wizard.resize(860, 680)
    wizard.show()
    paths = []
    try:
        paths.append(save(wizard, out, "wizard-1-nav-empty", dark))
        fill_wizard(wizard, sandboxes)
        for number in range(1, len(wizard.pageIds()) + 1):
            page = wizard.currentPage()
            wait_until(page.isComplete, 180_000)
            wait_until(lambda: not wizard.tasks.busy, 180_000)
            paths.append(save(wizard, out, f"wizard-{number}-{page.slug}", dark))
            if number < len(wizard.pageIds()):
                wizard.button(QWizard.WizardButton.NextButton).click()
    finally:
        wizard.tasks.shutdown()
        wizard.reject()
        wizard.deleteLater()
    return paths


def edit_both_sides(session, nav_number: str = "V00070") -> None:
    """A clerk changes the same vendor's phone in NAV and in BILL between syncs: the next sync shows a conflict.

    Through the connector's own clients (domain fields), so it does not depend on either side's wire format."""
    from dataclasses import replace

    from app.clients.bill import BillClient
    from app.clients.nav import NavClient
    from app.setup.profiles import build_bill_connection, build_nav_connection

    link = next(v for v in session.store.vendor_rows() if v.nav_number == nav_number)
    nav = NavClient(build_nav_connection(session.profile, session.vault))
    bill = BillClient(build_bill_connection(session.profile, session.vault))
    try:
        nav_vendor = nav.get_vendor(nav_number)
        nav.update_vendor(nav_number, replace(nav_vendor.fields, phone="717-555-0199"), nav_vendor.etag)
        bill_vendor = bill.get_vendor(link.bill_id)
        bill.update_vendor(link.bill_id, replace(bill_vendor.fields, phone="717-555-0123"))
    finally:
        nav.close()
        bill.close()


def run(out: Path) -> int:
    from app.ui.application import open_session
    from app.ui.main_window import MainWindow
    from app.ui.service_host import ServiceHost

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyle("Fusion")  # the same look on every machine, so the pictures are comparable
    light = app.style().standardPalette()
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="navbill-screenshots-") as home, \
            tempfile.TemporaryDirectory(prefix="navbill-screenshots-empty-") as empty_home:
        session = open_session(home, demo=True)
        empty = open_session(empty_home, demo=False)
        window = MainWindow(session.backend, profile_name=session.profile.name)
        host = ServiceHost(session, window, first_sync=True)
        window.resize(1400, 820)
        window.show()
        finished = []
        window.sync_finished.connect(finished.append)
        host.start()
        if not wait_until(lambda: bool(finished), 300_000):
            print("The demo sync did not finish", file=sys.stderr)
            return 1
        wait_until(lambda: window.invoices_tab.model.rowCount() > 0, 60_000)
        # Stop the service (its webhooks would carry the first edit across at once), edit the same vendor on
        # both sides, start again: the start-up sync finds the conflict the Vendors picture shows.
        stopped: list = []
        host.stopped.connect(lambda: stopped.append(True))
        host.stop()
        wait_until(lambda: bool(stopped), 60_000)
        edit_both_sides(session)
        finished.clear()
        host.first_sync = True
        host.start()
        if not wait_until(lambda: bool(finished), 300_000):
            print("The second demo sync did not finish", file=sys.stderr)
            return 1
        scheduler = host.built.service.scheduler if host.built else None
        wait_until(lambda: (scheduler is None or (not scheduler.busy and scheduler.pending == (None, 0)))
                   and not window.tasks.busy, 60_000)
        wait_until(lambda: window.vendors_tab.select_where(lambda r: r.state.value == "conflict"), 30_000)
        for dark in (False, True):
            app.setPalette(dark_palette() if dark else light)
            shoot_tabs(window, out, dark)
            shoot_wizard(empty, out, dark, session.sandboxes)
        app.setPalette(light)
        stopped.clear()
        host.stop()
        wait_until(lambda: bool(stopped) or not host.running, 60_000)
        window.shutdown()
        window.quitting = True
        window.close()
        session.close()
        empty.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app.ui.screenshots", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/screenshots", help="folder for the PNG files (default %(default)s)")
    args = parser.parse_args(argv)
    return run(Path(args.out))


if __name__ == "__main__":
    sys.exit(main())
