/*
 * redis_scripts.c: the Lua scripts that make every ownership change and
 * checkpoint write atomic and fenced by the owner record's epoch.  Text
 * only: redis.c loads them (SCRIPT LOAD at connect, and again when Redis
 * forgot them) and runs them (EVALSHA); nothing here calls back.
 */
#include "redis_int.h"

/*
 * Every session script starts with PRELUDE.  KEYS[1] is P{N}:u, the
 * session's one key, for session name N; KEYS[2] and KEYS[3] are P{N}:s
 * and P{N}:o, the two keys earlier releases kept (checkpoint, owner hash),
 * read only to move such a session into P{N}:u on first access (load()).
 * set_aside has P{N}:bad:<time> as KEYS[4]; migrate has the three keys of
 * the old name then the three of the new one; generation one.
 *
 * P{N}:u is the owner record (REC_LEN bytes, fixed width, so the
 * checkpoint's offsets never move and a takeover is a SETRANGE) followed
 * by the checkpoint (envelope header + payload), absent after logout or
 * before the first write:
 *   [0, 20)   epoch, 20 decimal digits
 *   [20, 52)  owner, padded with spaces ("-" after logout)
 *   [52]      MAC length (0: none)
 *   [53, 69)  MAC, padded with NULs
 * Epochs are compared with tonumber() and printed with %d, never with
 * tostring() (1e+15 past 14 digits); below 2^53 (redis_write.c checks)
 * doubles hold them exactly.
 *
 * Announcements go out with pcall, last: a PUBLISH the ACL refuses (no
 * &P"takeover" permission) must not abort a script halfway, as scripts
 * are not rolled back; redis_sub_open() reports that misconfiguration.
 */
#define XSTR(x) STR(x)
#define STR(x) #x

#define PRELUDE \
	"local RL = " XSTR(REC_LEN) "\n" \
	"local function pack(e, o, m)\n" \
	"  return string.format('%020d', tonumber(e)) .. o ..\n" \
	"    string.rep(' ', 32 - #o) .. string.char(#m) .. m ..\n" \
	"    string.rep('\\0', 16 - #m)\n" \
	"end\n" \
	"local function epoch(v) return tonumber(string.sub(v, 1, 20)) end\n" \
	"local function owner(v) return string.match(string.sub(v, 21, 52), '^%S+') end\n" \
	"local function mac(v) return string.sub(v, 54, 53 + string.byte(v, 53)) end\n" \
	"local function fmt(e) return string.format('%d', e) end\n" \
	/* \
	 * The record of key k (RL bytes), or false when it has none (a \
	 * value too short or malformed for one is lost data).  A session \
	 * still in the two-key layout (ks checkpoint, ko owner hash) is moved \
	 * into k first, with its TTL: the only place that layout is read. \
	 * With ro, it is not moved: the record, true and the checkpoint \
	 * (false if none) come back instead. \
	 */ \
	"local function load(k, ks, ko, ro)\n" \
	"  local v = redis.call('GETRANGE', k, 0, RL - 1)\n" \
	"  if #v == RL then\n" \
	"    if epoch(v) and owner(v) and string.byte(v, 53) <= 16 then return v end\n" \
	"    return false\n" \
	"  end\n" \
	"  if #v > 0 or redis.call('EXISTS', k) == 1 then return false end\n" \
	"  local h = redis.call('HMGET', ko, 'epoch', 'owner', 'mac')\n" \
	"  local blob = redis.call('GET', ks)\n" \
	"  if not h[1] and not h[2] and not blob then return false end\n" \
	"  local e = tonumber(h[1] or '0') or 0\n" \
	"  local o = string.sub(h[2] or 'migrate', 1, 32)\n" \
	"  local m = h[3] or ''\n" \
	"  if #m > 16 then m = '' end\n" \
	"  v = pack(e, o, m)\n" \
	"  if ro then return v, true, blob or false end\n" \
	"  local ttl = math.max(redis.call('PTTL', ks), redis.call('PTTL', ko))\n" \
	"  redis.call('SET', k, v .. (blob or ''))\n" \
	"  if ttl > 0 then redis.call('PEXPIRE', k, ttl) end\n" \
	"  redis.call('DEL', ks, ko)\n" \
	"  return v\n" \
	"end\n" \
	"local function expire(k, ttl)\n" \
	"  ttl = tonumber(ttl)\n" \
	"  if ttl > 0 then redis.call('EXPIRE', k, ttl) end\n" \
	"end\n"

static const char *const scripts[SCR_COUNT] = {
	/*
	 * takeover: ARGV owner, ttl, session name, channel.  nil when there
	 * is nothing to restore, 0 when the session was logged out (owner
	 * "-"), else {new epoch, MAC ("" when none)}.  The checkpoint itself
	 * comes from a GETRANGE after it in the same MULTI/EXEC (redis_ckpt.c):
	 * Redis's Lua hashes every byte of every string it makes, so passing
	 * a 1 MiB checkpoint through the script cost about a millisecond.
	 */
	PRELUDE
	"local v = load(KEYS[1], KEYS[2], KEYS[3])\n"
	"if not v then return false end\n"
	"if owner(v) == '-' then return 0 end\n"
	"if redis.call('STRLEN', KEYS[1]) <= RL then return false end\n"
	"local e = epoch(v) + 1\n"
	"redis.call('SETRANGE', KEYS[1], 0, pack(e, ARGV[1], mac(v)))\n"
	"expire(KEYS[1], ARGV[2])\n"
	"redis.pcall('PUBLISH', ARGV[4], fmt(e) .. ' ' .. ARGV[1] .. ' ' .. ARGV[3])\n"
	"return {e, mac(v)}\n",

	/* claim: ARGV owner, ttl.  0 when the owner record exists. */
	PRELUDE
	"if load(KEYS[1], KEYS[2], KEYS[3]) then return 0 end\n"
	"redis.call('SET', KEYS[1], pack(1, ARGV[1], ''))\n"
	"expire(KEYS[1], ARGV[2])\n"
	"return 1\n",

	/*
	 * write: ARGV epoch, ttl, owner, mode ("new": the session's first
	 * write, "full" or "delta"), prev_hdr, new_hdr, the length the key has
	 * now (delta; staged: the staged value's), MAC ("": none), session
	 * name, channel, then the payload (full; staged: its nonce) or (offset
	 * in the key, bytes) pairs (delta).  A staged full write has KEYS[4],
	 * P{N}:w:<owner>, set just before by the writer to RL placeholder bytes
	 * starting with the nonce, the header and the payload: the script puts
	 * the record over the placeholder and renames it into place, so the
	 * payload never passes through Lua (which hashes every byte of every
	 * string it makes: a 1 MiB full write cost Redis ~6 ms inline, during
	 * which it served nobody).  -3: the staged value is not the one
	 * announced (its SET failed); -4: RENAME refused (an ACL without it),
	 * nothing written.  1 written, 0 fenced (a newer epoch, or another
	 * owner at the writer's), -1 delta refused, 2 re-claimed: Redis lost
	 * the owner record or the checkpoint, or holds an older epoch than the
	 * writer (restored from an old copy, a lagging replica promoted), so
	 * the writer's copy is the newest there is: written in full at the
	 * writer's own epoch, announced.  Not epoch + 1: every takeover gives a
	 * new epoch to one owner, so the copies held in memory have distinct
	 * epochs, the newest the highest, and a re-claim at its own epoch keeps
	 * that order when several copies re-claim a user Redis forgot (a stale
	 * idle copy at e that re-claimed first with e + 1 tied the serving
	 * copy's, whose writes then went in under the stale owner's name; a
	 * second rewrite of the stale copy beat it, and the serving worker
	 * dropped its newer state).  Whichever writes first, the highest epoch
	 * ends up in the record and the others are fenced or announced away.
	 * Another owner at the writer's epoch fences it too: every epoch
	 * belongs to one owner, so that is a takeover made from a lagging
	 * replica that had not seen the writer's own (promoted while the writer
	 * was stopped); written over, the two copies would overwrite each other
	 * for as long as both live.  So a write that passes the checks is the
	 * record's owner at its epoch, or re-claims.  Every check comes before
	 * the first write: a script that fails halfway is not rolled back.  A
	 * full write is one SET of the whole value (SET + APPEND would leave
	 * the string with up to its size again of slack).
	 *
	 * First the common case, a delta from the owner of a well-formed
	 * record whose checkpoint is the one the delta applies to: one read
	 * of the record and header, the pages, the MAC and new header in one
	 * SETRANGE (they are adjacent).  Anything else falls through to the
	 * whole logic below, which decides it exactly as before.  Redis's
	 * commands from Lua cost a few microseconds each, and this path runs
	 * at every flush.
	 */
	"if ARGV[4] == 'delta' then\n"
	"  local rl, h = " XSTR(REC_LEN) ", ARGV[5]\n"
	"  local v = redis.call('GETRANGE', KEYS[1], 0, rl + #h - 1)\n"
	"  if #v == rl + #h and tonumber(string.sub(v, 1, 20)) == tonumber(ARGV[1])\n"
	"      and string.sub(v, 21, 52) == ARGV[3] .. string.rep(' ', 32 - #ARGV[3])\n"
	"      and string.byte(v, 53) <= 16 and string.sub(v, rl + 1) == h and\n"
	"      redis.call('STRLEN', KEYS[1]) == tonumber(ARGV[7]) then\n"
	"    for i = 11, #ARGV - 1, 2 do\n"
	"      redis.call('SETRANGE', KEYS[1], ARGV[i], ARGV[i + 1])\n"
	"    end\n"
	"    redis.call('SETRANGE', KEYS[1], 52, string.char(#ARGV[8]) .. ARGV[8] ..\n"
	"      string.rep('\\0', 16 - #ARGV[8]) .. ARGV[6])\n"
	"    local ttl = tonumber(ARGV[2])\n"
	"    if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end\n"
	"    return 1\n"
	"  end\n"
	"end\n"
	PRELUDE
	"local v = load(KEYS[1], KEYS[2], KEYS[3])\n"
	"local e = v and epoch(v)\n"
	"local mine = tonumber(ARGV[1])\n"
	"if KEYS[4] and (redis.call('STRLEN', KEYS[4]) ~= tonumber(ARGV[7]) or\n"
	"    redis.call('GETRANGE', KEYS[4], 0, #ARGV[11] - 1) ~= ARGV[11]) then\n"
	"  redis.call('DEL', KEYS[4])\n"
	"  return -3\n"
	"end\n"
	"if e and (e > mine or (e == mine and owner(v) ~= ARGV[3])) then\n"
	"  if KEYS[4] then redis.call('DEL', KEYS[4]) end\n"
	"  return 0\n"
	"end\n"
	"local reclaim = ARGV[4] ~= 'new' and (not e or e < mine or\n"
	"  redis.call('STRLEN', KEYS[1]) <= RL)\n"
	"local m = string.char(#ARGV[8]) .. ARGV[8] .. string.rep('\\0', 16 - #ARGV[8])\n"
	"if ARGV[4] == 'delta' then\n"
	"  if reclaim or redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[7]) or\n"
	"      redis.call('GETRANGE', KEYS[1], RL, RL + #ARGV[5] - 1) ~= ARGV[5] then\n"
	"    return -1\n"
	"  end\n"
	"  for i = 11, #ARGV - 1, 2 do\n"
	"    redis.call('SETRANGE', KEYS[1], ARGV[i], ARGV[i + 1])\n"
	"  end\n"
	"  redis.call('SETRANGE', KEYS[1], RL, ARGV[6])\n"
	"  redis.call('SETRANGE', KEYS[1], 52, m)\n"
	"else\n"
	"  local r\n"
	"  if reclaim or not e then r = pack(mine, ARGV[3], ARGV[8])\n"
	"  else r = pack(e, owner(v), ARGV[8]) end\n"
	"  if KEYS[4] then\n"
	"    redis.call('SETRANGE', KEYS[4], 0, r)\n"
	"    local ok = redis.pcall('RENAME', KEYS[4], KEYS[1])\n"
	"    if type(ok) == 'table' and ok.err then\n"
	"      redis.call('DEL', KEYS[4])\n"
	"      return -4\n"
	"    end\n"
	"  else\n"
	"    redis.call('SET', KEYS[1], r .. ARGV[6] .. ARGV[11])\n"
	"  end\n"
	"end\n"
	"expire(KEYS[1], ARGV[2])\n"
	"if reclaim then\n"
	"  redis.pcall('PUBLISH', ARGV[10], fmt(mine) .. ' ' .. ARGV[3] .. ' ' .. ARGV[9])\n"
	"  return 2\n"
	"end\n"
	"return 1\n",

	/*
	 * drop: ARGV epoch, ttl, session name, channel.  A missing owner
	 * record does not fence: logout must win even after Redis lost or
	 * evicted the record (epoch 0: a checkpoint of the two-key layout
	 * without its owner hash).  What stays is the record alone (owner "-").
	 */
	PRELUDE
	"local v = load(KEYS[1], KEYS[2], KEYS[3])\n"
	"local e = v and epoch(v)\n"
	"if e and e ~= 0 and e ~= tonumber(ARGV[1]) then return 0 end\n"
	"if not e or e == 0 then e = tonumber(ARGV[1]) end\n"
	"e = e + 1\n"
	"redis.call('SET', KEYS[1], pack(e, '-', ''))\n"
	"expire(KEYS[1], ARGV[2])\n"
	"redis.pcall('PUBLISH', ARGV[4], fmt(e) .. ' - ' .. ARGV[3])\n"
	"return 1\n",

	/*
	 * set_aside: ARGV ttl of the bad copy.  0 when there is no
	 * checkpoint.  The checkpoint goes to KEYS[4]; the record stays (a
	 * value with no valid record goes aside whole).
	 */
	PRELUDE
	"local v = load(KEYS[1], KEYS[2], KEYS[3])\n"
	"if not v then\n"
	"  if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end\n"
	"  redis.call('RENAME', KEYS[1], KEYS[4])\n"
	"elseif redis.call('STRLEN', KEYS[1]) <= RL then return 0\n"
	"else\n"
	"  redis.call('SET', KEYS[4], redis.call('GETRANGE', KEYS[1], RL, -1))\n"
	"  redis.call('SET', KEYS[1], v, 'KEEPTTL')\n"
	"end\n"
	"redis.call('EXPIRE', KEYS[4], ARGV[1])\n"
	"return 1\n",

	/*
	 * migrate: KEYS the old name's three, then the new name's three; ARGV
	 * ttl, channel, old name, MAC ("": keep the one it has), the
	 * checkpoint the MAC is for ("": any).  Moves a session to its new
	 * name (secret rotation, or a raw session key named it): 1 moved, 0
	 * the new name exists already, -1 nothing to move, -2 the checkpoint
	 * changed since the MAC was made.  The old name keeps a logged-out
	 * owner record with a newer epoch, announced, so a copy still held
	 * under it is dropped and its writes are fenced.
	 */
	PRELUDE
	"if load(KEYS[4], KEYS[5], KEYS[6]) or\n"
	"    redis.call('EXISTS', KEYS[4]) == 1 then return 0 end\n"
	"local v = load(KEYS[1], KEYS[2], KEYS[3])\n"
	"if not v or owner(v) == '-' or\n"
	"    redis.call('STRLEN', KEYS[1]) <= RL then return -1 end\n"
	"local blob = redis.call('GETRANGE', KEYS[1], RL, -1)\n"
	"if #ARGV[5] > 0 and blob ~= ARGV[5] then return -2 end\n"
	"local m = mac(v)\n"
	"if #ARGV[4] > 0 then m = ARGV[4] end\n"
	"local pttl = redis.call('PTTL', KEYS[1])\n"
	"redis.call('SET', KEYS[4], pack(epoch(v), owner(v), m) .. blob)\n"
	"local ttl = tonumber(ARGV[1])\n"
	"if ttl > 0 then redis.call('EXPIRE', KEYS[4], ttl)\n"
	"elseif pttl > 0 then redis.call('PEXPIRE', KEYS[4], pttl) end\n"
	"local e = epoch(v) + 1\n"
	"redis.call('SET', KEYS[1], pack(e, '-', ''))\n"
	"redis.call('EXPIRE', KEYS[1], ttl > 0 and ttl or 604800)\n"
	"redis.pcall('PUBLISH', ARGV[2], fmt(e) .. ' - ' .. ARGV[3])\n"
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

	/*
	 * peek: {epoch or false, the checkpoint's first 48 bytes ("" if
	 * none)}.  Read-only, like read.
	 */
	PRELUDE
	"local v, old, blob = load(KEYS[1], KEYS[2], KEYS[3], true)\n"
	"if not v then return {false, ''} end\n"
	"if old then return {fmt(epoch(v)), string.sub(blob or '', 1, 48)} end\n"
	"return {fmt(epoch(v)), redis.call('GETRANGE', KEYS[1], RL, RL + 47)}\n",

	/*
	 * read: ARGV "all" or "record".  false when there is no owner record,
	 * else {epoch, owner, MAC, the checkpoint (all; false if none)}.
	 * Read-only (stickyctl's list must not create the keys it scans): a
	 * session in the two-key layout is read there, not moved.
	 */
	PRELUDE
	"local v, old, blob = load(KEYS[1], KEYS[2], KEYS[3], true)\n"
	"if not v then return false end\n"
	"local c = false\n"
	"if ARGV[1] ~= 'all' then\n"
	"elseif old then c = blob\n"
	"elseif redis.call('STRLEN', KEYS[1]) > RL then\n"
	"  c = redis.call('GETRANGE', KEYS[1], RL, -1)\n"
	"end\n"
	"return {fmt(epoch(v)), owner(v), mac(v), c}\n",
};

const char *
rd_script_text(enum script_id id)
{
	return scripts[id];
}
