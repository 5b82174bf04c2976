#include "signaling/signal_cluster.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <utility>

#include "signaling/signal_router.hpp"

namespace claynet::signaling {

namespace {

// Values under id:<id> are "<instance> <serial> <token>"; the token is the rest, spaces and all.
// Queue entries are "<length of src>:<src><frame text>". Channel records are a type letter, and
// for routed messages a hop digit, then length-prefixed fields: "<n>:<bytes>".

// KEYS are built inside the scripts from the prefix: that needs a standalone Redis (or one
// primary), not Redis Cluster, whose slots must be known from KEYS.
constexpr std::string_view kClaim = R"lua(
local p, id, tok, iid = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local k = p .. 'id:' .. id
local cur = redis.call('GET', k)
local prevIid, prevSerial = '', ''
if cur then
  local a = string.find(cur, ' ', 1, true)
  local b = string.find(cur, ' ', a + 1, true)
  local owner = string.sub(cur, 1, a - 1)
  -- An id whose instance is gone is free, as on one instance once the socket is gone. Gone: not
  -- subscribed to its channel (Redis sees a killed process's connection close at once), or its
  -- liveness key lapsed (a hung or cut-off host).
  if owner == iid or (redis.call('PUBSUB', 'NUMSUB', p .. 'inst:' .. owner)[2] > 0
                      and redis.call('EXISTS', p .. 'alive:' .. owner) == 1) then
    if string.sub(cur, b + 1) ~= tok then return {0} end
    prevIid = owner
    prevSerial = string.sub(cur, a + 1, b - 1)
  else
    cur = false
  end
end
local serial = redis.call('INCR', p .. 'serial')
redis.call('SET', k, iid .. ' ' .. serial .. ' ' .. tok, 'PX', ARGV[5])
if ARGV[6] == '1' then redis.call('ZADD', p .. 'peers', 'NX', serial, id) end
if prevIid ~= '' and prevIid ~= iid then
  redis.call('PUBLISH', p .. 'inst:' .. prevIid,
             'K' .. #id .. ':' .. id .. #prevSerial .. ':' .. prevSerial)
end
local q = p .. 'q:' .. id
local msgs = redis.call('LRANGE', q, 0, -1)
if #msgs > 0 then redis.call('DEL', q, p .. 'qm:' .. id) end
return {1, serial, prevIid, prevSerial, msgs}
)lua";

constexpr std::string_view kRelease = R"lua(
local k = ARGV[1] .. 'id:' .. ARGV[2]
local cur = redis.call('GET', k)
local pre = ARGV[3] .. ' ' .. ARGV[4] .. ' '
if cur and string.sub(cur, 1, #pre) == pre then
  redis.call('DEL', k)
  redis.call('ZREM', ARGV[1] .. 'peers', ARGV[2])
  return 1
end
return 0
)lua";

// Refresh (after HEARTBEATs) and re-assert (after a reconnect) in one: an id still ours gets its
// TTL back, a missing one is written again, one held by someone else is reported lost.
constexpr std::string_view kAssert = R"lua(
local p, iid, ttl, disc = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local lost = {}
for i = 5, #ARGV, 3 do
  local id, serial, tok = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local k = p .. 'id:' .. id
  local pre = iid .. ' ' .. serial .. ' '
  local cur = redis.call('GET', k)
  if not cur then
    redis.call('SET', k, pre .. tok, 'PX', ttl)
    if disc == '1' then redis.call('ZADD', p .. 'peers', 'NX', serial, id) end
  elseif string.sub(cur, 1, #pre) == pre then
    redis.call('PEXPIRE', k, ttl)
  else
    lost[#lost + 1] = id
    lost[#lost + 1] = serial
  end
end
return lost
)lua";

constexpr std::string_view kRoute = R"lua(
local p = ARGV[1]
local expireMs, maxN, maxB = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local owners, alive, out, res, learned = {}, {}, {}, {}, {}
local now = nil
for i = 5, #ARGV, 4 do
  local dst, src, text, tag = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local iid = owners[dst]
  if iid == nil then
    local cur = redis.call('GET', p .. 'id:' .. dst)
    iid = false
    if cur then
      local o = string.sub(cur, 1, string.find(cur, ' ', 1, true) - 1)
      -- Held by an instance that is gone: queue it, for when the client registers elsewhere.
      if alive[o] == nil then
        alive[o] = redis.call('PUBSUB', 'NUMSUB', p .. 'inst:' .. o)[2] > 0
                   and redis.call('EXISTS', p .. 'alive:' .. o) == 1
      end
      if alive[o] then
        iid = o
        learned[#learned + 1] = dst
        learned[#learned + 1] = o
      end
    end
    owners[dst] = iid
  end
  if iid then
    local t = out[iid]
    if not t then t = {}; out[iid] = t end
    t[#t + 1] = tag .. #dst .. ':' .. dst .. #src .. ':' .. src .. #text .. ':' .. text
  elseif string.byte(tag, 1) == 77 then
    if not now then
      local tm = redis.call('TIME')
      now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
    end
    local q, qm = p .. 'q:' .. dst, p .. 'qm:' .. dst
    local n = redis.call('LLEN', q)
    local b, d = 0, now + expireMs
    if n > 0 then
      local m = redis.call('HMGET', qm, 'd', 'b')
      d = tonumber(m[1]) or d
      b = tonumber(m[2]) or 0
    end
    res[#res + 1] = (i - 5) / 4
    if n >= maxN or b + #text > maxB then
      res[#res + 1] = -1
    else
      redis.call('RPUSH', q, #src .. ':' .. src .. text)
      if n == 0 then
        redis.call('HSET', qm, 'd', d, 'b', #text)
        redis.call('PEXPIRE', q, expireMs + 60000)
        redis.call('PEXPIRE', qm, expireMs + 60000)
      else
        redis.call('HINCRBY', qm, 'b', #text)
      end
      res[#res + 1] = d - now
    end
  end
end
for iid, t in pairs(out) do
  redis.call('PUBLISH', p .. 'inst:' .. iid, table.concat(t))
end
return {res, learned}
)lua";

// A queue past its deadline goes, and each distinct sender hears EXPIRE once, on whichever
// instance holds it. Returns the ms still to wait, or -1 when there is nothing (more) to do.
constexpr std::string_view kExpire = R"lua(
local p, dst = ARGV[1], ARGV[2]
local q, qm = p .. 'q:' .. dst, p .. 'qm:' .. dst
local d = redis.call('HGET', qm, 'd')
if not d then return -1 end
local tm = redis.call('TIME')
local now = tonumber(tm[1]) * 1000 + math.floor(tonumber(tm[2]) / 1000)
if now < tonumber(d) then return tonumber(d) - now end
local msgs = redis.call('LRANGE', q, 0, -1)
redis.call('DEL', q, qm)
local seen, out = {}, {}
for _, m in ipairs(msgs) do
  local c = string.find(m, ':', 1, true)
  local src = string.sub(m, c + 1, c + tonumber(string.sub(m, 1, c - 1)))
  if not seen[src] then
    seen[src] = true
    local cur = redis.call('GET', p .. 'id:' .. src)
    if cur then
      local iid = string.sub(cur, 1, string.find(cur, ' ', 1, true) - 1)
      local t = out[iid]
      if not t then t = {}; out[iid] = t end
      t[#t + 1] = 'X' .. #dst .. ':' .. dst .. #src .. ':' .. src
    end
  end
end
for iid, t in pairs(out) do redis.call('PUBLISH', p .. 'inst:' .. iid, table.concat(t)) end
return -1
)lua";

constexpr std::string_view kPeers = R"lua(
local p = ARGV[1]
local out = {}
local alive = {}
for _, id in ipairs(redis.call('ZRANGE', p .. 'peers', 0, -1)) do
  local cur = redis.call('GET', p .. 'id:' .. id)
  if cur then
    local o = string.sub(cur, 1, string.find(cur, ' ', 1, true) - 1)
    if alive[o] == nil then
      alive[o] = redis.call('PUBSUB', 'NUMSUB', p .. 'inst:' .. o)[2] > 0
                 and redis.call('EXISTS', p .. 'alive:' .. o) == 1
    end
    if alive[o] then out[#out + 1] = id end
  else
    redis.call('ZREM', p .. 'peers', id)
  end
end
return out
)lua";

std::string sha1Hex(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_sha1(), nullptr);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out.push_back(hex[digest[i] >> 4]);
    out.push_back(hex[digest[i] & 15]);
  }
  return out;
}

// Reads "<n>:<bytes>" at `at`; false when the record is malformed.
bool readField(std::string_view s, std::size_t& at, std::string_view& out) {
  std::size_t colon = s.find(':', at);
  if (colon == std::string_view::npos || colon == at || colon - at > 10) return false;
  std::size_t n = 0;
  auto [ptr, ec] = std::from_chars(s.data() + at, s.data() + colon, n);
  if (ec != std::errc() || ptr != s.data() + colon || n > s.size() - colon - 1) return false;
  out = s.substr(colon + 1, n);
  at = colon + 1 + n;
  return true;
}

std::string ms(std::chrono::milliseconds d) { return std::to_string(d.count()); }

void appendField(std::string& out, std::string_view f) {
  out += std::to_string(f.size());
  out += ':';
  out += f;
}

// Calls fn(dst, src, text, queueable, hops) for each routed-message record in `s`, and
// other(type, a, b) for the two-field records; false when `s` is malformed.
template <class Fn, class Other>
bool forEachRecord(std::string_view s, Fn fn, Other other) {
  std::size_t at = 0;
  while (at < s.size()) {
    const char type = s[at++];
    std::string_view a, b, c;
    if (type == 'M' || type == 'N') {
      if (at >= s.size()) return false;
      const int hops = s[at++] - '0';
      if (!readField(s, at, a) || !readField(s, at, b) || !readField(s, at, c)) return false;
      fn(a, b, c, type == 'M', hops);
    } else if (type == 'X' || type == 'K') {
      if (!readField(s, at, a) || !readField(s, at, b)) return false;
      other(type, a, b);
    } else {
      return false;
    }
  }
  return true;
}

std::string shortText(std::string_view id) {
  constexpr std::size_t kMax = 64;
  return "'" + std::string(id.substr(0, kMax)) + (id.size() > kMax ? "...'" : "'");
}

}  // namespace

std::string clusterNotice(std::string_view type, const std::string& src, const std::string& dst) {
  std::string out;
  out.reserve(32 + src.size() + dst.size());
  out += "{\"type\":\"";
  out += type;
  out += "\",\"src\":";
  appendJsonString(out, src);
  out += ",\"dst\":";
  appendJsonString(out, dst);
  out += '}';
  return out;
}

const std::vector<ClusterScript>& ClusterCore::scripts() {
  static const std::vector<ClusterScript> all = [] {
    std::vector<ClusterScript> v = {{"claim", kClaim, {}},   {"release", kRelease, {}},
                                    {"assert", kAssert, {}}, {"route", kRoute, {}},
                                    {"expire", kExpire, {}}, {"peers", kPeers, {}}};
    for (auto& s : v) s.sha1 = sha1Hex(s.source);
    return v;
  }();
  return all;
}

ClusterCore::ClusterCore(ClusterOptions options) : options_(std::move(options)) {}

void ClusterCore::log(std::string_view line) {
  if (log_) log_(line);
}

std::string ClusterCore::sha(std::string_view name) const {
  for (const auto& s : scripts())
    if (s.name == name) return s.sha1;
  return {};
}

std::uint64_t ClusterCore::issue(std::vector<std::string> args, Pending pending) {
  std::uint64_t cookie = nextCookie_++;
  inFlightBytes_ += pending.bytes;
  pending.issued = clock_;
  issueOrder_.push_back(cookie);
  inFlight_.emplace(cookie, std::move(pending));
  commands_.push_back({cookie, std::move(args)});
  return cookie;
}

// ---- from the router ----

void ClusterCore::claim(ClusterHandle handle, const std::string& id, const std::string& token,
                        ClusterTime now) {
  clock_ = std::max(clock_, now);
  if (state_ == State::Down) {
    unavailable(handle);
    return;
  }
  if (state_ == State::Connecting) {
    if (!connectingStarted_) {
      connectingStarted_ = true;
      connectingSince_ = now;
    }
    held_.push_back({handle, id, token});
    return;
  }
  sendClaim(handle, id, token);
}

void ClusterCore::unavailable(ClusterHandle handle) {
  ClusterEvent e{ClusterEvent::Kind::Claimed};
  e.handle = handle;
  e.outcome = ClusterEvent::Outcome::Unavailable;
  events_.push_back(std::move(e));
}

void ClusterCore::refuseHeldClaims() {
  while (!held_.empty()) {
    unavailable(held_.front().handle);
    held_.pop_front();
  }
}

void ClusterCore::sendClaim(ClusterHandle handle, const std::string& id, const std::string& token) {
  Pending p{Op::Claim};
  p.handle = handle;
  p.id = id;
  issue({"EVALSHA", sha("claim"), "0", options_.prefix, id, token, options_.instanceId,
         ms(options_.aliveTimeout), options_.discovery ? "1" : "0"},
        std::move(p));
}

void ClusterCore::release(const std::string& id, std::uint64_t serial) {
  refreshIds_.erase(id);
  if (state_ != State::Up) return;  // re-assertion on reconnect skips it: it is not local any more
  issue({"EVALSHA", sha("release"), "0", options_.prefix, id, options_.instanceId,
         std::to_string(serial)},
        Pending{Op::Release});
}

void ClusterCore::refresh(const std::string& id, std::uint64_t serial, const std::string& token) {
  if (state_ != State::Up) return;
  if (!refreshIds_.insert(id).second) return;  // already in this batch
  refreshBatch_.push_back(id);
  refreshBatch_.push_back(std::to_string(serial));
  refreshBatch_.push_back(token);
}

void ClusterCore::expireNotice(const std::string& to, const std::string& about) {
  ClusterEvent e{ClusterEvent::Kind::Deliver};
  e.dst = to;
  e.src = about;
  e.text = clusterNotice("EXPIRE", about, to);
  events_.push_back(std::move(e));
}

void ClusterCore::refuse(const std::string& dst, const std::string& src, bool queueable,
                         std::string_view why, ClusterTime now) {
  ++stats_.refused;
  // What a client sees is what one instance does with a message it cannot deliver: EXPIRE.
  if (queueable && !src.empty()) expireNotice(src, dst);
  ++refusedSinceLog_;
  lastRefusal_ = std::string(why);
  if (now - lastRefusalLog_ >= std::chrono::seconds(5)) {
    log("cluster: message from " + shortText(src) + " to " + shortText(dst) + " refused (" +
        lastRefusal_ + ")" +
        (refusedSinceLog_ > 1 ? "; " + std::to_string(refusedSinceLog_ - 1) + " more since" : "") +
        "; its sender gets EXPIRE");
    refusedSinceLog_ = 0;
    lastRefusalLog_ = now;
  }
}

void ClusterCore::route(const std::string& dst, const std::string& src, std::string text,
                        bool queueable, int hops, ClusterTime now, bool viaScript) {
  clock_ = std::max(clock_, now);
  if (state_ != State::Up) {
    refuse(dst, src, queueable, "Redis is unreachable, so ids on other instances cannot be reached",
           now);
    return;
  }
  if (inFlightBytes_ + batchBytes_ + text.size() > options_.maxInFlightBytes) {
    refuse(dst, src, queueable, "too much in flight to Redis: it does not keep up", now);
    return;
  }
  if (queueable && queuedBytes_ + text.size() > options_.maxQueuedBytesTotal) {
    refuse(dst, src, queueable, "this instance's clients have too much queued", now);
    return;
  }
  ++stats_.routed;
  if (!viaScript && hops == 0) {
    auto owner = owners_.find(dst);
    if (owner != owners_.end() && now < owner->second.expires) {
      // Known to live on that instance: straight onto its channel, no script in Redis. If it
      // moved meanwhile, that instance routes it again; if it is gone, PUBLISH reaches nobody
      // and the batch goes through the script (onPublishReply).
      auto& records = direct_[owner->second.iid];
      if (records.empty()) directOrder_.push_back(owner->second.iid);
      records += queueable ? 'M' : 'N';
      records += '0';
      appendField(records, dst);
      appendField(records, src);
      appendField(records, text);
      batchBytes_ += text.size() + dst.size() + src.size() + 16;
      if (batchBytes_ >= kMaxBatchBytes) flush(now);
      return;
    }
  }
  batchBytes_ += text.size() + dst.size() + src.size() + 8;
  batch_.push_back(dst);
  batch_.push_back(src);
  batch_.push_back(std::move(text));
  std::string tag(1, queueable ? 'M' : 'N');
  tag.push_back(static_cast<char>('0' + std::clamp(hops, 0, 9)));
  batch_.push_back(std::move(tag));
  batchRouted_.push_back({dst, src, batch_[batch_.size() - 2].size(), queueable});
  if (batchRouted_.size() >= options_.maxBatch || batchBytes_ >= kMaxBatchBytes) flush(now);
}

void ClusterCore::flush(ClusterTime now) {
  clock_ = std::max(clock_, now);
  if (!batch_.empty()) {
    std::vector<std::string> args;
    args.reserve(batch_.size() + 7);
    args.insert(args.end(),
                {"EVALSHA", sha("route"), "0", options_.prefix, ms(options_.expireTimeout),
                 std::to_string(options_.maxQueuedPerDestination),
                 std::to_string(options_.maxQueuedBytesPerDestination)});
    for (auto& a : batch_) args.push_back(std::move(a));
    Pending p{Op::Route};
    p.routed = std::move(batchRouted_);
    for (const auto& r : p.routed) p.bytes += r.bytes;
    issue(std::move(args), std::move(p));
    batch_.clear();
    batchRouted_.clear();
  }
  // After the script call: a message that missed the cache before another one hit it must
  // still arrive first (one connection, so Redis runs them in this order).
  for (const auto& iid : directOrder_) {
    auto it = direct_.find(iid);
    if (it == direct_.end()) continue;
    Pending p{Op::Publish};
    p.id = iid;
    p.bytes = it->second.size();
    p.payload = std::move(it->second);
    std::vector<std::string> args = {"PUBLISH", options_.prefix + "inst:" + iid, p.payload};
    issue(std::move(args), std::move(p));
  }
  direct_.clear();
  directOrder_.clear();
  batchBytes_ = 0;
  if (!refreshBatch_.empty()) {
    std::vector<std::string> args = assertArgs();
    for (auto& a : refreshBatch_) args.push_back(std::move(a));
    issue(std::move(args), Pending{Op::Assert});
    refreshBatch_.clear();
    refreshIds_.clear();
  }
}

std::vector<std::string> ClusterCore::assertArgs() const {
  return {"EVALSHA",
          sha("assert"),
          "0",
          options_.prefix,
          options_.instanceId,
          ms(options_.aliveTimeout),
          options_.discovery ? "1" : "0"};
}

void ClusterCore::renewAlive() {
  issue({"SET", options_.prefix + "alive:" + options_.instanceId, "1", "PX",
         std::to_string(kAliveTtl.count())},
        Pending{Op::Alive});
}

void ClusterCore::listPeers(std::function<void(bool, std::vector<std::string>)> done) {
  if (state_ != State::Up) {
    done(false, {});
    return;
  }
  Pending p{Op::Peers};
  p.peersDone = std::move(done);
  issue({"EVALSHA", sha("peers"), "0", options_.prefix}, std::move(p));
}

// ---- from the I/O layer ----

void ClusterCore::linkUp(const std::vector<ClusterRegistration>& local, ClusterTime now) {
  clock_ = std::max(clock_, now);
  const bool again = state_ == State::Down;
  state_ = State::Up;
  connectingStarted_ = false;
  // Liveness first: the claims and assertions below must not find this instance gone.
  lastAlive_ = now;
  renewAlive();
  if (again) log("cluster: Redis is reachable again; cross-instance routing resumes");
  // Redis may have restarted empty, or with an older snapshot: write every local id again.
  std::size_t i = 0;
  while (i < local.size()) {
    std::vector<std::string> args = assertArgs();
    for (std::size_t n = 0; n < 1000 && i < local.size(); ++n, ++i) {
      args.push_back(local[i].id);
      args.push_back(std::to_string(local[i].serial));
      args.push_back(local[i].token);
    }
    issue(std::move(args), Pending{Op::Assert});
  }
  while (!held_.empty()) {
    HeldClaim h = std::move(held_.front());
    held_.pop_front();
    sendClaim(h.handle, h.id, h.token);
  }
  // Queues we were watching: look at them again (they may be gone, or past their deadline).
  for (auto& [dst, w] : queues_) {
    w.checking = false;
    w.deadline = std::min(w.deadline, now);
  }
}

void ClusterCore::linkDown(const std::string& why, ClusterTime now) {
  clock_ = std::max(clock_, now);
  if (state_ != State::Down) {
    ++stats_.linkDrops;
    log("cluster: lost Redis (" + why +
        "); clients on this instance still reach each other, messages to other instances get "
        "EXPIRE, new registrations are refused until it is back");
  }
  state_ = State::Down;
  connectingStarted_ = false;
  // Everything in flight is lost with the connection: each command fails as its reply would.
  auto failed = std::move(inFlight_);
  inFlight_.clear();
  issueOrder_.clear();
  inFlightBytes_ = 0;
  RedisValue gone;
  gone.kind = RedisValue::Kind::Error;
  gone.str = "connection lost";
  std::vector<std::uint64_t> cookies;
  for (auto& [cookie, p] : failed) cookies.push_back(cookie);
  std::sort(cookies.begin(), cookies.end());  // in the order they were issued
  for (auto cookie : cookies) {
    inFlight_.emplace(cookie, std::move(failed.find(cookie)->second));
    reply(cookie, gone, now);
  }
  // The batch not yet sent is refused the same way.
  for (const auto& r : batchRouted_) refuse(r.dst, r.src, r.queueable, "Redis is unreachable", now);
  for (auto& [iid, records] : direct_) lose(records, "Redis is unreachable", now);
  batch_.clear();
  batchRouted_.clear();
  direct_.clear();
  directOrder_.clear();
  batchBytes_ = 0;
  owners_.clear();  // Redis may come back empty, or with the ids elsewhere
  refreshBatch_.clear();
  refreshIds_.clear();
  refuseHeldClaims();
}

void ClusterCore::reply(std::uint64_t cookie, const RedisValue& v, ClusterTime now) {
  clock_ = std::max(clock_, now);
  auto it = inFlight_.find(cookie);
  if (it == inFlight_.end()) return;
  Pending p = std::move(it->second);
  inFlight_.erase(it);
  inFlightBytes_ -= std::min(inFlightBytes_, p.bytes);
  const bool error = v.kind == RedisValue::Kind::Error;
  switch (p.op) {
    case Op::Claim:
      if (error) log("cluster: registering " + shortText(p.id) + " failed: " + v.str);
      onClaimReply(p, v);
      break;
    case Op::Route:
      onRouteReply(p, v, now);
      break;
    case Op::Publish:
      if (error) {
        lose(p.payload, v.str, now);
      } else if (v.kind == RedisValue::Kind::Integer && v.integer == 0) {
        // Nobody listens on that channel: the instance is gone. Forget what lived there and let
        // the script decide (queue the messages, or find where their ids went).
        for (auto it = owners_.begin(); it != owners_.end();)
          it = it->second.iid == p.id ? owners_.erase(it) : std::next(it);
        forEachRecord(
            p.payload,
            [&](std::string_view dst, std::string_view src, std::string_view text, bool q, int) {
              route(std::string(dst), std::string(src), std::string(text), q, 0, now, true);
            },
            [](char, std::string_view, std::string_view) {});
      }
      break;
    case Op::Expire: {
      auto w = queues_.find(p.id);
      if (w == queues_.end()) break;
      w->second.checking = false;
      if (!error && v.kind == RedisValue::Kind::Integer && v.integer >= 0) {
        // A newer queue for the same id (the old one was delivered): watch its deadline.
        w->second.deadline = now + std::chrono::milliseconds(v.integer + 1);
      } else if (!error) {
        queuedBytes_ -= std::min(queuedBytes_, w->second.bytes);
        queues_.erase(w);
      } else {
        w->second.deadline = now + std::chrono::seconds(1);  // try again once the link is back
      }
      break;
    }
    case Op::Peers: {
      std::vector<std::string> ids;
      if (!error)
        for (const auto& e : v.elements) ids.push_back(e.str);
      if (error) log("cluster: listing peers failed: " + v.str);
      if (p.peersDone) p.peersDone(!error, std::move(ids));
      break;
    }
    case Op::Assert:
      if (error) {
        if (state_ == State::Up) log("cluster: refreshing ids failed: " + v.str);
        break;
      }
      for (std::size_t i = 0; i + 1 < v.elements.size(); i += 2) {
        ClusterEvent e{ClusterEvent::Kind::Kick};
        e.dst = v.elements[i].str;
        e.serial = std::strtoull(v.elements[i + 1].str.c_str(), nullptr, 10);
        log("cluster: " + shortText(e.dst) +
            " is registered elsewhere now (Redis lost it while this instance held it); "
            "closing the local client");
        events_.push_back(std::move(e));
      }
      break;
    case Op::Release:
      if (error && state_ == State::Up) log("cluster: releasing an id failed: " + v.str);
      break;
    case Op::Alive:
      if (error && state_ == State::Up)
        log("cluster: refreshing this instance's liveness failed: " + v.str);
      break;
  }
}

void ClusterCore::onClaimReply(const Pending& p, const RedisValue& v) {
  ClusterEvent e{ClusterEvent::Kind::Claimed};
  e.handle = p.handle;
  e.dst = p.id;
  if (v.kind != RedisValue::Kind::Array || v.elements.empty()) {
    e.outcome = ClusterEvent::Outcome::Unavailable;
  } else if (v.elements[0].integer == 0) {
    e.outcome = ClusterEvent::Outcome::Taken;
  } else if (v.elements.size() >= 5) {
    e.serial = static_cast<std::uint64_t>(v.elements[1].integer);
    const std::string& prevIid = v.elements[2].str;
    e.outcome = prevIid.empty()                  ? ClusterEvent::Outcome::Registered
                : prevIid == options_.instanceId ? ClusterEvent::Outcome::TakenOver
                                                 : ClusterEvent::Outcome::Moved;
    if (prevIid == options_.instanceId) {
      // Taken over from a connection of this instance: the router closes it, as on one instance.
      ClusterEvent k{ClusterEvent::Kind::Kick};
      k.dst = p.id;
      k.serial = std::strtoull(v.elements[3].str.c_str(), nullptr, 10);
      events_.push_back(std::move(k));
    }
    for (const auto& m : v.elements[4].elements) {
      std::size_t at = 0;
      std::string_view src;
      if (!readField(m.str, at, src)) continue;
      e.texts.push_back(m.str.substr(at));
    }
  } else {
    e.outcome = ClusterEvent::Outcome::Unavailable;
  }
  events_.push_back(std::move(e));
}

void ClusterCore::onRouteReply(Pending& p, const RedisValue& reply, ClusterTime now) {
  if (reply.kind != RedisValue::Kind::Array || reply.elements.size() != 2 ||
      reply.elements[0].kind != RedisValue::Kind::Array) {
    const RedisValue& v = reply;
    stats_.lost += p.routed.size();
    log("cluster: " + std::to_string(p.routed.size()) + " messages to other instances were lost (" +
        (v.kind == RedisValue::Kind::Error ? v.str : std::string("unexpected reply")) + ")");
    for (const auto& r : p.routed)
      if (r.queueable && !r.src.empty()) expireNotice(r.src, r.dst);
    return;
  }
  const RedisValue& v = reply.elements[0];
  const RedisValue& learned = reply.elements[1];
  if (owners_.size() > kMaxOwners) owners_.clear();
  for (std::size_t i = 0; i + 1 < learned.elements.size(); i += 2) {
    if (learned.elements[i + 1].str == options_.instanceId) continue;  // here: the router knows
    owners_[learned.elements[i].str] = {learned.elements[i + 1].str, now + kOwnerTtl};
  }
  for (std::size_t i = 0; i + 1 < v.elements.size(); i += 2) {
    auto index = static_cast<std::size_t>(v.elements[i].integer);
    long long result = v.elements[i + 1].integer;
    if (index >= p.routed.size()) continue;
    const Routed& r = p.routed[index];
    if (result < 0) {
      refuse(r.dst, r.src, r.queueable, "the queue for " + shortText(r.dst) + " is full", now);
      continue;
    }
    ++stats_.queued;
    auto& w = queues_[r.dst];
    auto deadline = now + std::chrono::milliseconds(result + 1);
    if (w.bytes == 0 || deadline < w.deadline) w.deadline = deadline;
    w.bytes += r.bytes;
    queuedBytes_ += r.bytes;
  }
}

bool ClusterCore::stalled(ClusterTime now) {
  while (!issueOrder_.empty() && inFlight_.find(issueOrder_.front()) == inFlight_.end())
    issueOrder_.pop_front();
  if (issueOrder_.empty()) return false;
  return now - inFlight_.find(issueOrder_.front())->second.issued >= kReplyTimeout;
}

void ClusterCore::channelMessage(std::string_view s, ClusterTime now) {
  clock_ = std::max(clock_, now);
  bool ok = forEachRecord(
      s,
      [&](std::string_view dst, std::string_view src, std::string_view text, bool queueable,
          int hops) {
        ClusterEvent e{ClusterEvent::Kind::Deliver};
        e.dst = std::string(dst);
        e.src = std::string(src);
        e.text = std::string(text);
        e.queueable = queueable;
        e.hops = hops;
        events_.push_back(std::move(e));
        ++stats_.received;
      },
      [&](char type, std::string_view a, std::string_view b) {
        ++stats_.received;
        if (type == 'X') {
          expireNotice(std::string(b), std::string(a));
          return;
        }
        ClusterEvent e{ClusterEvent::Kind::Kick};
        e.dst = std::string(a);
        e.serial = std::strtoull(std::string(b).c_str(), nullptr, 10);
        events_.push_back(std::move(e));
      });
  if (!ok) log("cluster: ignored a malformed record on this instance's channel");
}

void ClusterCore::lose(std::string_view records, std::string_view why, ClusterTime now) {
  std::size_t n = 0;
  forEachRecord(
      records,
      [&](std::string_view dst, std::string_view src, std::string_view, bool queueable, int) {
        ++n;
        ++stats_.lost;
        if (queueable && !src.empty()) expireNotice(std::string(src), std::string(dst));
      },
      [](char, std::string_view, std::string_view) {});
  (void)now;
  log("cluster: " + std::to_string(n) + " messages to another instance were lost (" +
      std::string(why) + "); their senders get EXPIRE");
}

void ClusterCore::tick(ClusterTime now) {
  clock_ = std::max(clock_, now);
  if (state_ == State::Connecting && connectingStarted_ &&
      now - connectingSince_ >= options_.connectWait) {
    log("cluster: Redis did not come up within " + ms(options_.connectWait) +
        " ms; refusing the registrations that waited for it");
    refuseHeldClaims();
    connectingStarted_ = false;
  }
  if (refusedSinceLog_ > 0 && now - lastRefusalLog_ >= std::chrono::seconds(5)) {
    log("cluster: " + std::to_string(refusedSinceLog_) +
        " more messages to other instances refused (" + lastRefusal_ + ")");
    refusedSinceLog_ = 0;
    lastRefusalLog_ = now;
  }
  if (state_ != State::Up) return;
  if (now - lastAlive_ >= kAliveEvery) {
    // This instance's liveness: ids held by an instance whose key expired are free.
    lastAlive_ = now;
    renewAlive();
  }
  for (auto& [dst, w] : queues_) {
    if (w.checking || now < w.deadline) continue;
    w.checking = true;
    Pending p{Op::Expire};
    p.id = dst;
    issue({"EVALSHA", sha("expire"), "0", options_.prefix, dst}, std::move(p));
  }
}

}  // namespace claynet::signaling
