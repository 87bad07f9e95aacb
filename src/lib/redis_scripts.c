/*
 * redis_scripts.c: the Lua scripts that make every ownership change and
 * checkpoint write atomic and fenced by the owner record's epoch.  Text
 * only: redis.c loads them (SCRIPT LOAD at connect, and again when Redis
 * forgot them) and runs them (EVALSHA); nothing here calls back.
 */
#include "redis_int.h"

/*
 * KEYS[1] is P{N}:s and KEYS[2] P{N}:o for session name N (or
 * P{N}:bad:<time> for set_aside; migrate has four and generation one).  Epochs are compared with tonumber() on both sides; an epoch
 * is only ever changed by HINCRBY or set from a decimal ARGV, never from a
 * Lua number, which would print as 1e+15 past 14 digits (so announcements
 * HGET the new epoch as a string).
 *
 * Announcements go out with pcall, last: a PUBLISH the ACL refuses (no
 * &P"takeover" permission) must not abort a script halfway, as scripts
 * are not rolled back; redis_sub_open() reports that misconfiguration.
 */
static const char *const scripts[SCR_COUNT] = {
	/*
	 * takeover: ARGV owner, ttl, session name, channel.  nil when there
	 * is nothing to restore, 0 when the session was logged out (owner
	 * "-"), else {new epoch, checkpoint, MAC ("" when none)}.
	 */
	"local blob = redis.call('GET', KEYS[1])\n"
	"if redis.call('HGET', KEYS[2], 'owner') == '-' then return 0 end\n"
	"if not blob then return false end\n"
	"local e = redis.call('HINCRBY', KEYS[2], 'epoch', 1)\n"
	"redis.call('HSET', KEYS[2], 'owner', ARGV[1])\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then\n"
	"  redis.call('EXPIRE', KEYS[1], ttl)\n"
	"  redis.call('EXPIRE', KEYS[2], ttl)\n"
	"end\n"
	"redis.pcall('PUBLISH', ARGV[4], redis.call('HGET', KEYS[2], 'epoch')\n"
	"  .. ' ' .. ARGV[1] .. ' ' .. ARGV[3])\n"
	"return {e, blob, redis.call('HGET', KEYS[2], 'mac') or ''}\n",

	/* claim: ARGV owner, ttl.  0 when the owner record exists. */
	"if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end\n"
	"redis.call('HSET', KEYS[2], 'epoch', 1, 'owner', ARGV[1])\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then\n"
	"  redis.call('EXPIRE', KEYS[1], ttl)\n"
	"  redis.call('EXPIRE', KEYS[2], ttl)\n"
	"end\n"
	"return 1\n",

	/*
	 * write: ARGV epoch, ttl, owner, mode ("new": the session's first
	 * write, "full" or "delta"), prev_hdr,
	 * new_hdr, the length the checkpoint has now (delta), MAC ("": none),
	 * session name, channel, then the payload (full) or (offset, bytes)
	 * pairs (delta).  1 written, 0 fenced (a newer epoch owns it), -1
	 * delta refused, 2 re-claimed: Redis lost the owner record or the
	 * checkpoint, or holds an older epoch than the writer (restored from
	 * an old copy, a lagging replica promoted), so the writer's copy is
	 * the newest there is: written in full with epoch + 1, announced.
	 * Every check comes before the first write: a script that fails
	 * halfway is not rolled back.
	 */
	"local e = redis.call('HGET', KEYS[2], 'epoch')\n"
	"local full = ARGV[4] ~= 'delta'\n"
	"local mine = tonumber(ARGV[1])\n"
	"if e and tonumber(e) > mine then return 0 end\n"
	"local reclaim = ARGV[4] ~= 'new' and (not e or tonumber(e) < mine or\n"
	"  redis.call('EXISTS', KEYS[1]) == 0)\n"
	"if not reclaim and not e then\n"
	"  redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'owner', ARGV[3])\n"
	"end\n"
	"if not full then\n"
	"  if reclaim or redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[7]) or\n"
	"      redis.call('GETRANGE', KEYS[1], 0, #ARGV[5] - 1) ~= ARGV[5] then\n"
	"    return -1\n"
	"  end\n"
	"  for i = 11, #ARGV - 1, 2 do\n"
	"    redis.call('SETRANGE', KEYS[1], ARGV[i], ARGV[i + 1])\n"
	"  end\n"
	"  redis.call('SETRANGE', KEYS[1], 0, ARGV[6])\n"
	"else\n"
	"  if reclaim then\n"
	"    redis.call('DEL', KEYS[2])\n"
	"    redis.call('HSET', KEYS[2], 'epoch', ARGV[1], 'owner', ARGV[3])\n"
	"    redis.call('HINCRBY', KEYS[2], 'epoch', 1)\n"
	"  end\n"
	"  redis.call('SET', KEYS[1], ARGV[6])\n"
	"  if #ARGV[11] > 0 then redis.call('APPEND', KEYS[1], ARGV[11]) end\n"
	"end\n"
	"if #ARGV[8] > 0 then\n"
	"  redis.call('HSET', KEYS[2], 'mac', ARGV[8])\n"
	"else\n"
	"  redis.call('HDEL', KEYS[2], 'mac')\n"
	"end\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then\n"
	"  redis.call('EXPIRE', KEYS[1], ttl)\n"
	"  redis.call('EXPIRE', KEYS[2], ttl)\n"
	"end\n"
	"if reclaim then\n"
	"  redis.pcall('PUBLISH', ARGV[10], redis.call('HGET', KEYS[2], 'epoch')\n"
	"    .. ' ' .. ARGV[3] .. ' ' .. ARGV[9])\n"
	"  return 2\n"
	"end\n"
	"return 1\n",

	/*
	 * drop: ARGV epoch, ttl, session name, channel.  A missing owner
	 * record does not fence: logout must win even after Redis lost or
	 * evicted the record.
	 */
	"local e = redis.call('HGET', KEYS[2], 'epoch')\n"
	"if e and tonumber(e) ~= tonumber(ARGV[1]) then return 0 end\n"
	"redis.call('DEL', KEYS[1])\n"
	"if not e then redis.call('HSET', KEYS[2], 'epoch', ARGV[1]) end\n"
	"redis.call('HINCRBY', KEYS[2], 'epoch', 1)\n"
	"redis.call('HSET', KEYS[2], 'owner', '-')\n"
	"redis.call('HDEL', KEYS[2], 'mac')\n"
	"local ttl = tonumber(ARGV[2])\n"
	"if ttl > 0 then redis.call('EXPIRE', KEYS[2], ttl) end\n"
	"redis.pcall('PUBLISH', ARGV[4], redis.call('HGET', KEYS[2], 'epoch')\n"
	"  .. ' - ' .. ARGV[3])\n"
	"return 1\n",

	/* set_aside: ARGV ttl of the bad copy.  0 when there is no checkpoint. */
	"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
	"redis.call('RENAME', KEYS[1], KEYS[2])\n"
	"redis.call('EXPIRE', KEYS[2], ARGV[1])\n"
	"return 1\n",

	/*
	 * migrate: KEYS old checkpoint, old owner record, new checkpoint, new
	 * owner record; ARGV ttl, channel, old name, MAC ("": keep the one it
	 * has), the checkpoint the MAC is for ("": any).  Moves a session to
	 * its new name (secret rotation, or a raw session key named it): 1
	 * moved, 0 the new name exists already, -1 nothing to move, -2 the
	 * checkpoint changed since the MAC was made.  The old name keeps a logged-out owner record
	 * with a newer epoch, announced, so a copy still held under it is
	 * dropped and its writes are fenced.
	 */
	"if redis.call('EXISTS', KEYS[3]) == 1 or\n"
	"    redis.call('EXISTS', KEYS[4]) == 1 then return 0 end\n"
	"if redis.call('EXISTS', KEYS[1]) == 0 or\n"
	"    redis.call('HGET', KEYS[2], 'owner') == '-' then return -1 end\n"
	"if #ARGV[5] > 0 and redis.call('GET', KEYS[1]) ~= ARGV[5] then\n"
	"  return -2\n"
	"end\n"
	"local e = redis.call('HGET', KEYS[2], 'epoch') or '1'\n"
	"redis.call('RENAME', KEYS[1], KEYS[3])\n"
	"if redis.call('EXISTS', KEYS[2]) == 1 then\n"
	"  redis.call('RENAME', KEYS[2], KEYS[4])\n"
	"else\n"
	"  redis.call('HSET', KEYS[4], 'epoch', e, 'owner', 'migrate')\n"
	"end\n"
	"if #ARGV[4] > 0 then redis.call('HSET', KEYS[4], 'mac', ARGV[4]) end\n"
	"local ttl = tonumber(ARGV[1])\n"
	"if ttl > 0 then\n"
	"  redis.call('EXPIRE', KEYS[3], ttl)\n"
	"  redis.call('EXPIRE', KEYS[4], ttl)\n"
	"end\n"
	"redis.call('HSET', KEYS[2], 'epoch', e, 'owner', '-')\n"
	"redis.call('HINCRBY', KEYS[2], 'epoch', 1)\n"
	"redis.call('EXPIRE', KEYS[2], ttl > 0 and ttl or 604800)\n"
	"redis.pcall('PUBLISH', ARGV[2], redis.call('HGET', KEYS[2], 'epoch')\n"
	"  .. ' - ' .. ARGV[3])\n"
	"return 1\n",

	/*
	 * generation: KEYS P"generation"; ARGV a fresh random token.  The
	 * token Redis holds, set to ARGV[1] first when missing: a worker that
	 * sees it change (or vanish) knows Redis lost data (restarted empty,
	 * flushed, replaced) and rewrites every session it holds.
	 */
	"local v = redis.call('GET', KEYS[1])\n"
	"if v then return v end\n"
	"redis.call('SET', KEYS[1], ARGV[1])\n"
	"return ARGV[1]\n",

	/* peek: {epoch or false, the checkpoint's first 48 bytes ("" if none)}. */
	"return {redis.call('HGET', KEYS[2], 'epoch') or false,\n"
	"  redis.call('GETRANGE', KEYS[1], 0, 47)}\n",
};

const char *
rd_script_text(enum script_id id)
{
	return scripts[id];
}
