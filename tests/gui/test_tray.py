"""The tray icon on a real X server: Xvfb as the display, trayer as the system tray."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROBE = Path(__file__).with_name("tray_probe.py")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def x_display_with_tray():
    missing = [tool for tool in ("Xvfb", "trayer") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {' and '.join(missing)} (apt-get install xvfb trayer) for a real X server with a tray")
    read_fd, write_fd = os.pipe()
    xvfb = subprocess.Popen(["Xvfb", "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                            pass_fds=(write_fd,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    with os.fdopen(read_fd) as pipe:
        number = pipe.readline().strip()  # Xvfb writes the display number once it accepts clients
    if not number:
        xvfb.kill()
        pytest.skip("Xvfb did not start")
    env = {**os.environ, "DISPLAY": f":{number}", "QT_QPA_PLATFORM": "xcb"}
    env.pop("WAYLAND_DISPLAY", None)
    trayer = subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "pixel", "--width", "200"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield env
    finally:
        for process in (trayer, xvfb):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.mark.tray
def test_tray_icon_menu_states_and_close_to_tray(x_display_with_tray):
    result = subprocess.run([sys.executable, str(PROBE)], env=x_display_with_tray, cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["platform"] == "xcb"
    assert seen["tray_available"], "trayer did not provide a system tray"
    assert seen["window_shown"] and seen["icon_visible"]
    assert seen["menu"] == ["Sync now", "Pause syncing", "Open “Needs attention”", "Open", "Quit"]
    assert seen["state_after_load"] == "attention"
    assert seen["notices"] and "need your attention" in seen["notices"][0]
    assert "Needs your attention" in seen["tooltip"]
    assert seen["hidden_after_close"] and seen["shown_by_open"]
    assert seen["paused"] and seen["resume_label"] == "Resume syncing" and seen["pause_label"] == "Pause syncing"
    assert seen["sync_disabled_while_syncing"]
    assert seen["state_offline"] == "offline"
    assert seen["quit_closes_window"]
