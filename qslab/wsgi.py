"""The WSGI entry point for gunicorn.

The URLconf (every app's views and API, with numpy, SciPy and matplotlib behind them) is imported here
rather than on a worker's first request: that first request took 5-8 s, during which the worker served
no one. With gunicorn's ``preload_app`` (``gunicorn.conf.py``) the import happens once, in the master,
before the workers are forked.
"""

import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qslab.settings.base")
application = get_wsgi_application()
get_resolver().url_patterns  # noqa: B018 - imported for its side effect (see the module docstring)
