"""gunicorn settings for qslab (read from the working directory; each may be overridden on the command line
or by the environment variables named here).

``preload_app``: the master imports the application (and, through ``qslab.wsgi``, the whole URLconf) once
and forks the workers from it, so no worker's first request waits for the imports and the workers share
that memory. The master opens no database connection while importing, so none is shared by the forks.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", str(2 * (os.cpu_count() or 1))))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
preload_app = True
