"""t_wsgi_core.sh: find sticky-wsgi checkpoints in Redis and print the
layout of each payload that has out-of-band buffers: 'nbuf off:len ...'.
Key names and the envelope are sticky's business: scan every string and
look for the payload's magic."""
import struct
import sys

import redis

r = redis.Redis(unix_socket_path=sys.argv[1])
for key in r.scan_iter(count=1000):
    if r.type(key) != b"string":
        continue
    v = r.get(key)
    at = v.find(b"SPK1")
    if at < 0:
        continue
    p = v[at:]
    nbuf, poff, plen = struct.unpack(">IQQ", p[4:24])
    if nbuf == 0:
        continue
    table = [struct.unpack(">QQ", p[24 + 16 * i:40 + 16 * i]) for i in range(nbuf)]
    print(nbuf, " ".join("%d:%d" % t for t in table), "pickle=%d:%d" % (poff, plen),
          "envelope_offset=%d" % at)
