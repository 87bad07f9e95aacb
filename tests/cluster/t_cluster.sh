#!/bin/bash
# t_cluster.sh: make check's short run of the multi-host harness
# (tests/cluster/cluster.sh --short), sync mode: a whole host SIGKILLed,
# a host cut off and back, the Redis master SIGKILLed (checkpoint_replicas
# = 1).  `make check-cluster` runs every scenario, async ones too (async
# host_cut can fail: see docs/operations.md).
exec bash "$top_srcdir/tests/cluster/cluster.sh" --short
