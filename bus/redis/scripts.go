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
// node, or one already reaped, gives just "0".
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
