"""``eamm-app``: the desktop app. ``eamm-app [--server URL] [--token-file PATH] [--no-autostart]``."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from PySide6.QtCore import QCoreApplication
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from eamm_app import __version__
from eamm_app.settings import APPLICATION, ORGANISATION, Settings

STYLE = """
QFrame#dropzone { border: 1px dashed #5a6270; border-radius: 6px; background: #262a30; }
QLabel#thumb { background: #1b1e22; border-radius: 4px; font-size: 13px; color: #8a94a3; }
QLabel#imageview { background: #15171a; border-radius: 4px; color: #7d8590; }
QPushButton#generate { font-weight: bold; padding: 6px 18px; background: #2f6feb; color: white; border-radius: 4px; }
QPushButton#generate:disabled { background: #3a3f47; color: #8a94a3; }
QGroupBox { font-weight: bold; }
QLabel#caption { color: #9aa4b2; font-weight: bold; }
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eamm-app", description="Desktop app around eamm-server (docs/app.md).")
    p.add_argument("--version", action="version", version=f"eamm-app {__version__}")
    p.add_argument("--server", metavar="URL", help="server URL (default: the remembered one, else http://127.0.0.1:8765)")
    p.add_argument("--token-file", metavar="PATH", help="the server's token file (default: the server's own location)")
    p.add_argument("--output", metavar="DIR", help="where results are downloaded (<DIR>/<job id>/result.mp4)")
    p.add_argument("--no-autostart", action="store_true", help="do not start a local server when none answers")
    p.add_argument("--server-data", metavar="DIR", help="data folder of a server the app starts (eamm-server --data)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debugging detail")
    return p


def apply_style(app: QApplication) -> None:
    """A dark Fusion look (the same on every platform, also offscreen for the doc's screenshots)."""
    app.setStyle("Fusion")
    pal = QPalette()
    colours = {QPalette.ColorRole.Window: "#202328", QPalette.ColorRole.WindowText: "#e6e6e6",
               QPalette.ColorRole.Base: "#181a1e", QPalette.ColorRole.AlternateBase: "#23262b",
               QPalette.ColorRole.Text: "#e6e6e6", QPalette.ColorRole.Button: "#2c3036",
               QPalette.ColorRole.ButtonText: "#e6e6e6", QPalette.ColorRole.Highlight: "#2f6feb",
               QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#2c3036",
               QPalette.ColorRole.ToolTipText: "#e6e6e6", QPalette.ColorRole.PlaceholderText: "#7d8590"}
    for role, colour in colours.items():
        pal.setColor(role, QColor(colour))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.ButtonText, QColor("#6b7280"))
    pal.setColor(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text, QColor("#6b7280"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.symbolsresolver=false")
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    QCoreApplication.setOrganizationName(ORGANISATION)
    QCoreApplication.setApplicationName(APPLICATION)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    apply_style(app)
    settings = Settings.open()
    if args.server:
        settings.server_url = args.server
    if args.token_file:
        settings.token_file = args.token_file
    if args.output:
        settings.output_dir = args.output
    from eamm_app.main_window import MainWindow

    window = MainWindow(settings, autostart=not args.no_autostart,
                        server_args=["--data", args.server_data] if args.server_data else None)
    window.show()
    return app.exec()


if __name__ == "__main__":
    sys.exit(main())
