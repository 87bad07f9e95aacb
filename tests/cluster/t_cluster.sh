#!/bin/bash
# t_cluster.sh: make check's short run of the multi-host harness
# (tests/cluster/cluster.sh --short): a whole host SIGKILLed (sync), a
# host cut off and back (async), the Redis master SIGKILLed (sync,
# checkpoint_replicas = 1).  `make check-cluster` runs every scenario.
exec bash "$top_srcdir/tests/cluster/cluster.sh" --short
