"""eamm-app: a desktop app (PySide6 Widgets) around ``eamm-server``.

It talks to the server only over HTTP (``eamm_app.api``), always off the UI thread
(``eamm_app.tasks``); results come back to widgets through Qt signals.
"""

__version__ = "0.1.0"
