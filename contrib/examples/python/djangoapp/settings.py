"""Settings of the djangoapp example: no database, no sessions of
Django's own (sticky keeps the user's state)."""
SECRET_KEY = "djangoapp-example-not-secret"  # no signing is used
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = []
MIDDLEWARE = []
ROOT_URLCONF = "djangoapp.urls"
DATABASES = {}
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
LOGGING_CONFIG = None
