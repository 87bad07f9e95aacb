"""sticky-wsgi --app djangoapp.wsgi:application

Everything here runs once in the master: settings, the URL conf and the
data set are loaded before fork and shared by the workers."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangoapp.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()

# Django resolves the URL conf on the first request; do it now, in the
# master, with the data set the views use.
from django.urls import get_resolver  # noqa: E402

from . import dataset  # noqa: E402,F401

get_resolver().url_patterns
