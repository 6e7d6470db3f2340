package redis

import goredis "github.com/redis/go-redis/v9"

// Redis layout, every name after Options.KeyPrefix (P):
//
//	P m:<channel>            pub/sub channel of a hub channel
//	P ctl:<node>             pub/sub channel each node subscribes first (link check)
//	P nodes                  zset  node -> deadline (ms, Redis clock)
//	P n:<node>:p             set   "<conn id>:<channel>" of the node's presence entries
//	P n:<node>:cs            set   count spaces the node has counts in
//	P n:<node>:c:<space>     hash  key -> the node's count
//	P pm:<channel>           hash  user -> info (of the user's first connection)
//	P pu:<channel>           hash  user -> number of connections, all nodes
//	P pc:<channel>           hash  "<node>:<conn id>" -> user
//	P c:<space>:<key>        hash  node -> count
//	P cz:<space>             zset  (score 0) keys with a count on some node
//	P kv:<space>             hash  key -> value (Shared)
//	P kvx:<space>            zset  key -> expiry (ms) of values with a TTL
//	P eh:<sk>                hash  node -> 1: the nodes holding edge key sk ("<space>\0<key>")
//	P es:<sk>                hash  r (reported held), g (grace ms), d (not live since, ms)
//	P ep                     zset  sk -> when its grace ends (ms): keys waiting to go down
//	P er:<space>             zset  (score 0) keys of space reported held
//	P n:<node>:e             set   sk of the edge keys the node holds
//	P q:<name>               stream of a work queue (Queues), entries {d: data}
//	P qb:<name>              string the bytes of data in the stream, with its TTL
//	P ql:<name>              string the holder of the queue's consumer lease, with a TTL
//
// Every script takes P as ARGV[1] and builds key names itself: the layout
// spans many keys per operation, which a single Redis (or a primary with
// replicas) allows; docs/clustering.md says what Redis Cluster would need.

// prelude holds the Lua helpers the scripts share.
const prelude = `
local P = ARGV[1]
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
-- padd records connection id of node on channel ch for user; true when the
-- user joined (it had no connection there on any node).
local function padd(node, id, ch, user, info)
  if redis.call('HSETNX', P..'pc:'..ch, node..':'..id, user) == 0 then return false end
  redis.call('SADD', P..'n:'..node..':p', id..':'..ch)
  if redis.call('HINCRBY', P..'pu:'..ch, user, 1) == 1 then
    redis.call('HSET', P..'pm:'..ch, user, info)
    return true
  end
  return false
end
-- prem forgets connection id of node on channel ch; it returns the user
-- when that was the user's last connection there, else nil. With want set,
-- only a connection of that user is forgotten.
local function prem(node, id, ch, want)
  local f = node..':'..id
  local user = redis.call('HGET', P..'pc:'..ch, f)
  if not user or (want and user ~= want) then return nil end
  redis.call('HDEL', P..'pc:'..ch, f)
  redis.call('SREM', P..'n:'..node..':p', id..':'..ch)
  if redis.call('HINCRBY', P..'pu:'..ch, user, -1) <= 0 then
    redis.call('HDEL', P..'pu:'..ch, user)
    redis.call('HDEL', P..'pm:'..ch, user)
    return user
  end
  return nil
end
-- cset sets node's count of key in space to v (0 forgets it).
local function cset(node, space, key, v)
  local h = P..'c:'..space..':'..key
  local nh = P..'n:'..node..':c:'..space
  if v <= 0 then
    redis.call('HDEL', h, node)
    redis.call('HDEL', nh, key)
    if redis.call('EXISTS', h) == 0 then redis.call('ZREM', P..'cz:'..space, key) end
  else
    redis.call('HSET', h, node, v)
    redis.call('HSET', nh, key, v)
    redis.call('ZADD', P..'cz:'..space, 0, key)
    redis.call('SADD', P..'n:'..node..':cs', space)
  end
end
-- clock returns the time of an edge call: the caller's (tests inject one)
-- when given, else Redis's.
local function clock(arg)
  local t = tonumber(arg)
  if t and t > 0 then return t end
  return now()
end
-- esettle compares edge key's live state (some node holds it) with its
-- reported one and flips the reported one: up at once, down once the key
-- has not been live for its grace. grace (ms) is stored when given, else
-- the stored one is used. Returns {edge (1 up, -1 down, 0 none), ms left of
-- the grace (0: none)}.
local function esettle(space, key, grace, t)
  local sk = space..'\0'..key
  local s = P..'es:'..sk
  local rep = redis.call('HGET', s, 'r')
  if redis.call('EXISTS', P..'eh:'..sk) == 1 then
    redis.call('ZREM', P..'ep', sk)
    if rep then
      redis.call('HDEL', s, 'd')
      if grace then redis.call('HSET', s, 'g', grace) end
      return {0, 0}
    end
    redis.call('HSET', s, 'r', '1', 'g', grace or tonumber(redis.call('HGET', s, 'g')) or 0)
    redis.call('HDEL', s, 'd')
    redis.call('ZADD', P..'er:'..space, 0, key)
    return {1, 0}
  end
  if not rep then
    redis.call('DEL', s)
    redis.call('ZREM', P..'ep', sk)
    return {0, 0}
  end
  if grace then redis.call('HSET', s, 'g', grace) else grace = tonumber(redis.call('HGET', s, 'g')) or 0 end
  local d = tonumber(redis.call('HGET', s, 'd'))
  if not d then
    d = t
    redis.call('HSET', s, 'd', t)
  end
  if t >= d + grace then
    redis.call('DEL', s)
    redis.call('ZREM', P..'ep', sk)
    redis.call('ZREM', P..'er:'..space, key)
    return {-1, 0}
  end
  redis.call('ZADD', P..'ep', d + grace, sk)
  return {0, d + grace - t}
end
-- ehold records whether node holds edge key sk.
local function ehold(node, sk, held)
  if held then
    redis.call('HSET', P..'eh:'..sk, node, '1')
    redis.call('SADD', P..'n:'..node..':e', sk)
  else
    redis.call('HDEL', P..'eh:'..sk, node)
    redis.call('SREM', P..'n:'..node..':e', sk)
  end
end
-- esplit splits an edge key sk into its space and key.
local function esplit(sk)
  local i = string.find(sk, '\0', 1, true)
  return string.sub(sk, 1, i - 1), string.sub(sk, i + 1)
end
-- cclear forgets every count of node.
local function cclear(node)
  for _, space in ipairs(redis.call('SMEMBERS', P..'n:'..node..':cs')) do
    local nh = P..'n:'..node..':c:'..space
    local kv = redis.call('HGETALL', nh)
    for i = 1, #kv, 2 do cset(node, space, kv[i], 0) end
    redis.call('DEL', nh)
  end
  redis.call('DEL', P..'n:'..node..':cs')
end
`

// scriptAdd: ARGV P, node, conn id, channel, user, info. Returns 1 when the
// user joined.
var scriptAdd = goredis.NewScript(prelude + `
if padd(ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]) then return 1 end
return 0`)

// scriptRemove: ARGV P, node, conn id, channel, user. Returns 1 when the
// user left.
var scriptRemove = goredis.NewScript(prelude + `
if prem(ARGV[2], ARGV[3], ARGV[4], ARGV[5]) then return 1 end
return 0`)

// scriptSyncPresence makes node's presence entries exactly the given ones:
// ARGV P, node, n, then n times (conn id, channel, user, info). It returns
// the changes, flat: ("+"|"-", channel, user, info)*.
var scriptSyncPresence = goredis.NewScript(prelude + `
local node, n = ARGV[2], tonumber(ARGV[3])
local want = {}
for i = 0, n - 1 do
  local b = 4 + i * 4
  want[ARGV[b]..':'..ARGV[b + 1]] = true
end
local out = {}
for _, m in ipairs(redis.call('SMEMBERS', P..'n:'..node..':p')) do
  if not want[m] then
    local id, ch = string.match(m, '^(%d+):(.*)$')
    local user = prem(node, id, ch, nil)
    if user then
      table.insert(out, '-'); table.insert(out, ch); table.insert(out, user); table.insert(out, '')
    end
  end
end
for i = 0, n - 1 do
  local b = 4 + i * 4
  if padd(node, ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3]) then
    table.insert(out, '+'); table.insert(out, ARGV[b + 1]); table.insert(out, ARGV[b + 2]); table.insert(out, ARGV[b + 3])
  end
end
return out`)

// scriptSetCounts sets node's counts: ARGV P, node, full, then (space, key,
// count)*. With full = "1", every other count of node is forgotten first.
var scriptSetCounts = goredis.NewScript(prelude + `
local node = ARGV[2]
if ARGV[3] == '1' then cclear(node) end
for i = 4, #ARGV, 3 do cset(node, ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])) end
return 1`)

// scriptListCounts: ARGV P, space, min, max (ZRANGEBYLEX bounds), self.
// Returns (key, sum over nodes other than self)*.
var scriptListCounts = goredis.NewScript(prelude + `
local space, self = ARGV[2], ARGV[5]
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYLEX', P..'cz:'..space, ARGV[3], ARGV[4])) do
  local kv = redis.call('HGETALL', P..'c:'..space..':'..key)
  local sum = 0
  for i = 1, #kv, 2 do
    if kv[i] ~= self then sum = sum + tonumber(kv[i + 1]) end
  end
  if sum > 0 then table.insert(out, key); table.insert(out, tostring(sum)) end
end
return out`)

// scriptHeartbeat renews node's deadline: ARGV P, node, ttl (ms). Returns
// 1 when node was not listed (first beat, or it had been reaped), and the
// Redis time (ms).
var scriptHeartbeat = goredis.NewScript(prelude + `
local t = now()
local added = redis.call('ZADD', P..'nodes', t + tonumber(ARGV[3]), ARGV[2])
return {added, t}`)

// scriptExpire sets node's deadline to now, so that the next reaper takes
// it: what a node does when it closes. ARGV P, node.
var scriptExpire = goredis.NewScript(prelude + `
redis.call('ZADD', P..'nodes', 'XX', 0, ARGV[2])
return 1`)

// scriptDeadNodes lists up to 16 nodes whose deadline passed: ARGV P.
var scriptDeadNodes = goredis.NewScript(prelude + `
return redis.call('ZRANGEBYSCORE', P..'nodes', '-inf', now(), 'LIMIT', 0, 16)`)

// scriptReap removes a dead node and everything it held, once: ARGV P,
// node. Only the caller that finds the deadline passed and removes the node
// gets "1" and then the users who left, flat: (channel, user)*; a live
// node, or one already reaped, gives just "0". The edge keys that only the
// dead node held are queued to be settled at once (score 0 in ep): the
// next sweep starts their grace.
var scriptReap = goredis.NewScript(prelude + `
local node = ARGV[2]
local s = redis.call('ZSCORE', P..'nodes', node)
if not s or tonumber(s) > now() then return {'0'} end
redis.call('ZREM', P..'nodes', node)
local out = {'1'}
local set = P..'n:'..node..':p'
for _, m in ipairs(redis.call('SMEMBERS', set)) do
  local id, ch = string.match(m, '^(%d+):(.*)$')
  local user = prem(node, id, ch, nil)
  if user then table.insert(out, ch); table.insert(out, user) end
end
redis.call('DEL', set)
cclear(node)
local eset = P..'n:'..node..':e'
for _, sk in ipairs(redis.call('SMEMBERS', eset)) do
  redis.call('HDEL', P..'eh:'..sk, node)
  if redis.call('EXISTS', P..'eh:'..sk) == 0 then redis.call('ZADD', P..'ep', 0, sk) end
end
redis.call('DEL', eset)
return out`)

// scriptKVGet: ARGV P, space, key. Returns the value, or nil when missing
// or expired (an expired value is deleted).
var scriptKVGet = goredis.NewScript(prelude + `
local x = redis.call('ZSCORE', P..'kvx:'..ARGV[2], ARGV[3])
if x and tonumber(x) <= now() then
  redis.call('HDEL', P..'kv:'..ARGV[2], ARGV[3])
  redis.call('ZREM', P..'kvx:'..ARGV[2], ARGV[3])
  return false
end
return redis.call('HGET', P..'kv:'..ARGV[2], ARGV[3])`)

// scriptKVSet: ARGV P, space, key, value, ttl (ms, 0: none).
var scriptKVSet = goredis.NewScript(prelude + `
redis.call('HSET', P..'kv:'..ARGV[2], ARGV[3], ARGV[4])
local ttl = tonumber(ARGV[5])
if ttl > 0 then
  redis.call('ZADD', P..'kvx:'..ARGV[2], now() + ttl, ARGV[3])
else
  redis.call('ZREM', P..'kvx:'..ARGV[2], ARGV[3])
end
return 1`)

// scriptKVDelete: ARGV P, space, key.
var scriptKVDelete = goredis.NewScript(prelude + `
redis.call('HDEL', P..'kv:'..ARGV[2], ARGV[3])
redis.call('ZREM', P..'kvx:'..ARGV[2], ARGV[3])
return 1`)

// scriptKVAll: ARGV P, space. Drops expired values, then returns the rest
// flat: (key, value)*.
var scriptKVAll = goredis.NewScript(prelude + `
local t = now()
local gone = redis.call('ZRANGEBYSCORE', P..'kvx:'..ARGV[2], '-inf', t)
for _, k in ipairs(gone) do redis.call('HDEL', P..'kv:'..ARGV[2], k) end
redis.call('ZREMRANGEBYSCORE', P..'kvx:'..ARGV[2], '-inf', t)
return redis.call('HGETALL', P..'kv:'..ARGV[2])`)

// scriptEdgeHold records node's holding of an edge key and settles it:
// ARGV P, node, space, key, held ("1" or "0"), grace (ms), clock (ms, 0:
// Redis's). Returns {edge, ms left of the grace}.
var scriptEdgeHold = goredis.NewScript(prelude + `
local space, key = ARGV[3], ARGV[4]
ehold(ARGV[2], space..'\0'..key, ARGV[5] == '1')
return esettle(space, key, tonumber(ARGV[6]), clock(ARGV[7]))`)

// scriptEdgeSettle settles an edge key: ARGV P, space, key, clock.
// Returns {edge, ms left of the grace}.
var scriptEdgeSettle = goredis.NewScript(prelude + `
return esettle(ARGV[2], ARGV[3], nil, clock(ARGV[4]))`)

// scriptEdgeSweep settles up to ARGV[3] edge keys whose grace ended:
// ARGV P, clock, limit. Returns the flips, flat: (space, key, edge)*.
var scriptEdgeSweep = goredis.NewScript(prelude + `
local t = clock(ARGV[2])
local out = {}
for _, sk in ipairs(redis.call('ZRANGEBYSCORE', P..'ep', '-inf', t, 'LIMIT', 0, tonumber(ARGV[3]))) do
  local space, key = esplit(sk)
  local r = esettle(space, key, nil, t)
  if r[1] ~= 0 then
    table.insert(out, space); table.insert(out, key); table.insert(out, tostring(r[1]))
  end
end
return out`)

// scriptEdgeSync makes node's edge holdings exactly the given ones and
// settles every key that changed: ARGV P, node, clock, n, then n times
// (space, key, grace ms). Returns the flips, flat: (space, key, edge)*.
var scriptEdgeSync = goredis.NewScript(prelude + `
local node, t, n = ARGV[2], clock(ARGV[3]), tonumber(ARGV[4])
local want = {}
for i = 0, n - 1 do
  local b = 5 + i * 3
  want[ARGV[b]..'\0'..ARGV[b + 1]] = i
end
local out = {}
local function flip(space, key, r)
  if r[1] ~= 0 then
    table.insert(out, space); table.insert(out, key); table.insert(out, tostring(r[1]))
  end
end
for _, sk in ipairs(redis.call('SMEMBERS', P..'n:'..node..':e')) do
  if not want[sk] then
    ehold(node, sk, false)
    local space, key = esplit(sk)
    flip(space, key, esettle(space, key, nil, t))
  end
end
for i = 0, n - 1 do
  local b = 5 + i * 3
  ehold(node, ARGV[b]..'\0'..ARGV[b + 1], true)
  flip(ARGV[b], ARGV[b + 1], esettle(ARGV[b], ARGV[b + 1], tonumber(ARGV[b + 2]), t))
end
return out`)

// queueBytes holds the Lua helpers of the queue scripts, which keep a
// stream's byte count (P qb:<name>) beside it. bytes returns the count of
// the stream k with n entries: 0 when it is empty (a count left by a stream
// that expired or was deleted is stale), the sum of its entries when the
// count key is missing (the stream was written before it was kept).
// settle subtracts freed bytes, and drops the count with the last entry.
const queueBytes = `
local function bytes(k, kb, n)
  if n == 0 then return 0 end
  local b = redis.call('GET', kb)
  if b then return tonumber(b) end
  b = 0
  for _, e in ipairs(redis.call('XRANGE', k, '-', '+')) do b = b + #e[2][2] end
  redis.call('SET', kb, b)
  local ttl = redis.call('PTTL', k)
  if ttl > 0 then redis.call('PEXPIRE', kb, ttl) end
  return b
end
local function settle(k, kb, freed)
  if redis.call('XLEN', k) == 0 then
    redis.call('DEL', kb)
  elseif freed > 0 and redis.call('EXISTS', kb) == 1 then
    if redis.call('DECRBY', kb, freed) < 0 then redis.call('SET', kb, 0, 'KEEPTTL') end
  end
end
`

// scriptQueueAppend: ARGV P, stream key, byte count key, max length, max
// bytes (0: none), key TTL (ms, 0: none), entries... Appends the entries
// while the stream stays within its max length and max bytes, and returns
// how many it refused.
var scriptQueueAppend = goredis.NewScript(queueBytes + `
local k, kb = ARGV[2], ARGV[3]
local maxlen, maxbytes, ttl = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local n = redis.call('XLEN', k)
local b = bytes(k, kb, n)
local refused = 0
for i = 7, #ARGV do
  local size = #ARGV[i]
  if n >= maxlen or (maxbytes > 0 and b + size > maxbytes) then
    refused = refused + 1
  else
    redis.call('XADD', k, '*', 'd', ARGV[i])
    n, b = n + 1, b + size
  end
end
if n == 0 then
  redis.call('DEL', kb)
  return refused
end
redis.call('SET', kb, b)
if ttl > 0 then
  redis.call('PEXPIRE', k, ttl)
  redis.call('PEXPIRE', kb, ttl)
end
return refused`)

// scriptQueueAck: ARGV P, stream key, byte count key, ids... Deletes the
// entries with ids and subtracts their bytes from the count.
var scriptQueueAck = goredis.NewScript(queueBytes + `
local k, kb = ARGV[2], ARGV[3]
local freed = 0
for i = 4, #ARGV do
  local e = redis.call('XRANGE', k, ARGV[i], ARGV[i])
  if #e > 0 then
    freed = freed + #e[1][2][2]
    redis.call('XDEL', k, ARGV[i])
  end
end
settle(k, kb, freed)
return 1`)

// scriptQueueExpire: ARGV P, stream key, byte count key, time (ms).
// Deletes the entries appended before the time, subtracts their bytes from
// the count, and returns how many it deleted.
var scriptQueueExpire = goredis.NewScript(queueBytes + `
local k, kb = ARGV[2], ARGV[3]
local old = redis.call('XRANGE', k, '-', '(' .. ARGV[4] .. '-0')
local freed = 0
for _, e in ipairs(old) do freed = freed + #e[2][2] end
if #old > 0 then redis.call('XTRIM', k, 'MINID', ARGV[4]) end
settle(k, kb, freed)
return #old`)

// scriptQueueLease: ARGV P, lease key, holder, TTL (ms). Takes the lease
// when no one holds it, renews it when holder does; 1 when holder has it.
var scriptQueueLease = goredis.NewScript(`
local v = redis.call('GET', ARGV[2])
if not v then
  redis.call('SET', ARGV[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
if v == ARGV[3] then
  redis.call('PEXPIRE', ARGV[2], ARGV[4])
  return 1
end
return 0`)

// scriptQueueRelease: ARGV P, lease key, holder. Deletes the lease if
// holder has it.
var scriptQueueRelease = goredis.NewScript(`
if redis.call('GET', ARGV[2]) == ARGV[3] then redis.call('DEL', ARGV[2]) end
return 1`)
