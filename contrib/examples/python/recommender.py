"""A Flask app whose per-user object is a recommender-like model: a numpy
vector of STICKY_MODEL_BYTES bytes (default 64 KiB; 1 MiB and more work
the same), nudged toward the item the user looked at on each request.

    STICKY_MODEL_BYTES=1048576 sticky-wsgi -w 2 -l 'unix:/run/sticky/%t.sock' \
        -r unix:/run/redis/redis.sock --pythonpath contrib/examples/python \
        --app recommender:app --state-factory recommender:new_user

The model stays live in the worker that serves the user: no pickling or
Redis round trip per request.  Checkpoints pickle it with protocol 5; the
vector travels out of band, page-aligned, so a nudge that changes 512
bytes sends about one page to Redis, not the whole model; session.touch()
says which 512 bytes, so the flush does not compare the model with the
last checkpoint to find them.
"""
import os

import numpy as np
from flask import Flask, request

MODEL_BYTES = int(os.environ.get("STICKY_MODEL_BYTES", 64 * 1024))
DIM = 64                              # one item embedding
SLOTS = max(1, MODEL_BYTES // (DIM * 8))
# The catalogue: loaded once in the master, shared by every worker.
ITEMS = np.random.default_rng(42).standard_normal((1000, DIM))
app = Flask(__name__)


def new_user():
    """The state of a user sticky has never seen."""
    return {"n": 0, "model": np.zeros((SLOTS, DIM))}


@app.route("/")
@app.route("/view")
def view():
    session = request.environ["sticky.session"]
    user = session.state
    item = int(request.args.get("item", user["n"])) % len(ITEMS)
    slot = item % SLOTS
    # Nudge one slot of the model toward the item (512 bytes change).
    user["model"][slot] += 0.1 * (ITEMS[item] - user["model"][slot])
    session.touch(user["model"][slot])  # what changed: the flush sends it only
    user["n"] += 1
    score = float(user["model"][slot] @ ITEMS[item])
    return "count=%d worker=%s item=%d score=%.3f bytes=%d\n" % (
        user["n"], session.worker, item, score, user["model"].nbytes)


@app.route("/recommend")
def recommend():
    session = request.environ["sticky.session"]
    user = session.state
    session.unchanged()                # read-only: no checkpoint
    taste = user["model"].mean(axis=0)
    best = int(np.argmax(ITEMS @ taste))
    return "count=%d worker=%s best=%d\n" % (user["n"], session.worker, best)
