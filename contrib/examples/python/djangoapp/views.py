from django.http import HttpResponse

from . import dataset


def lookup(request):
    """count=N is this user's number of lookups (kept in their worker)."""
    session = request.META["sticky.session"]
    word = request.GET.get("w", "w000042")
    session.state = (session.state or 0) + 1
    return HttpResponse(
        "count=%d worker=%s value=%s words=%d loaded_in=%d\n" % (
            session.state, session.worker, dataset.WORDS.get(word),
            len(dataset.WORDS), dataset.LOADED_IN),
        content_type="text/plain")
