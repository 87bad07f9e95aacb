"""A Django project (no database) that loads a data set once, in the
master, before sticky forks its workers; see wsgi.py."""
