"""``eamm-server``: a local HTTP server around :mod:`eamm_core` (see docs/server.md).

Loopback only by default, a bearer token on every route but ``/health``, a job queue with one
worker per device, progress (polling and server-sent events), cancel/resume, and results on disk
under the data folder so that a restart (even after ``kill -9``) keeps every job.
"""

__version__ = "0.1.0"
API_VERSION = 1
