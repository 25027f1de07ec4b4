"""Render the app icon (resources/icons/navbill.svg) into the raster files the installers need.

    .venv/bin/python installer/make_icons.py

writes installer/icons/navbill.png (256 px, for the Linux desktop entry) and installer/icons/navbill.ico
(16 to 256 px, for the Windows executables and the Inno Setup wizard). The outputs are committed, so a
Windows build machine needs neither this script nor Qt's SVG support; run it again when the SVG changes.

Qt's own ICO writer stores a single size, so the .ico is assembled here: an ICONDIR header, one
ICONDIRENTRY per size, then each size as a PNG, which Windows Vista and later read inside an .ico.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_SVG = ROOT / "resources" / "icons" / "navbill.svg"
OUTPUT_DIR = ROOT / "installer" / "icons"
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
PNG_SIZE = 256


def render_png(svg: Path, size: int) -> bytes:
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtSvg import QSvgRenderer

    renderer = QSvgRenderer(str(svg))
    if not renderer.isValid():
        raise SystemExit(f"cannot read {svg}")
    image = QImage(size, size, QImage.Format.Format_ARGB32)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    renderer.render(painter)
    painter.end()
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data.data())


def build_ico(pngs: dict[int, bytes]) -> bytes:
    header = struct.pack("<HHH", 0, 1, len(pngs))  # reserved, type 1 = icon, image count
    entries = b""
    images = b""
    offset = len(header) + 16 * len(pngs)
    for size, png in sorted(pngs.items()):
        side = 0 if size >= 256 else size  # 0 means 256 in an ICONDIRENTRY
        entries += struct.pack("<BBBBHHII", side, side, 0, 0, 1, 32, len(png), offset)
        images += png
        offset += len(png)
    return header + entries + images


def main() -> int:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtGui import QGuiApplication

    app = QGuiApplication(sys.argv[:1])  # QPainter on a QImage needs a Gui application for fonts
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUTPUT_DIR / "navbill.png").write_bytes(render_png(SOURCE_SVG, PNG_SIZE))
    (OUTPUT_DIR / "navbill.ico").write_bytes(build_ico({size: render_png(SOURCE_SVG, size) for size in ICO_SIZES}))
    del app
    print(f"wrote {OUTPUT_DIR / 'navbill.png'} and {OUTPUT_DIR / 'navbill.ico'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
