"""The data set: built once at import (in sticky's master, before fork),
then read-only and shared copy-on-write by every worker."""
import os

LOADED_IN = os.getpid()
WORDS = {"w%06d" % i: (i * 7919) % 100003 for i in range(200000)}
