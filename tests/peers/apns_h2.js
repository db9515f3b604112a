// An independent APNs provider API for the push tests, on node's built-in `http2` module (nghttp2 inside):
// not our framing, not our sandbox. Strict where Apple is (docs: "Sending notification requests to APNs",
// "Handling notification responses from APNs"; reference: protocols-and-reliability.md §3).
//
//   node apns_h2.js CONFIG.json        prints "READY <port>" once listening on 127.0.0.1 (a free port)
//
// CONFIG: {cert, key: PEM paths (TLS, ALPN h2 only); keys: {kid: {team, pem}} (ES256 provider-token keys);
//          topics: [allowed apns-topic]; dead: [tokens answered 410 Unregistered + timestamp];
//          bad: [tokens answered 400 BadDeviceToken]; large: {token: n} (that token is answered 410 Unregistered
//          with an n-byte JSON body, to exercise flow control); initialStreams (1), maxStreams (1000),
//          initialWindowSize (node's default 65535: the client's request bodies are flow controlled by it)}.
// Also POST or GET /large/<n> answers 200 with n bytes (byte i = i % 251), for the raw HTTP/2 client tests.
//
// Like APNs: one stream per connection until a request carries a valid provider token, then maxStreams.
// Commands on stdin, one per line: "stats" prints "STATS <json>"; EOF on stdin exits (the fixture's end).
"use strict";

const http2 = require("http2");
const crypto = require("crypto");
const fs = require("fs");
const readline = require("readline");

const cfg = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const dead = new Set(cfg.dead || []);
const bad = new Set(cfg.bad || []);
const large = new Map(Object.entries(cfg.large || {}));
const topics = cfg.topics ? new Set(cfg.topics) : null;
const keys = cfg.keys || {};
const maxStreams = cfg.maxStreams || 1000;
const PUSH_TYPES = new Set(["alert", "background", "voip", "complication", "fileprovider", "mdm", "location",
  "liveactivity", "pushtotalk", "controls", "widgets"]);
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const HEX = /^[0-9a-f]+$/i;

const stats = {sessions: 0, requests: 0, accepted: 0, duplicates: 0, answers: {}, peakStreams: 0, resets: 0};
const seenIds = new Set();
const verified = new Map(); // raw JWT -> {team, iat} or an error reason

function b64url(s) {
  return Buffer.from(s.replace(/-/g, "+").replace(/_/g, "/"), "base64");
}

function checkToken(auth) {
  if (!auth) return "MissingProviderToken";
  if (!/^bearer /i.test(auth)) return "InvalidProviderToken";
  const raw = auth.slice(7);
  let v = verified.get(raw);
  if (v === undefined) {
    v = verify(raw);
    verified.set(raw, v);
  }
  if (typeof v === "string") return v;
  if (Date.now() / 1000 - v.iat > 3600) return "ExpiredProviderToken";
  return null;
}

function verify(raw) {
  const parts = raw.split(".");
  if (parts.length !== 3) return "InvalidProviderToken";
  let header, claims;
  try {
    header = JSON.parse(b64url(parts[0]).toString("utf8"));
    claims = JSON.parse(b64url(parts[1]).toString("utf8"));
  } catch (e) {
    return "InvalidProviderToken";
  }
  const key = keys[header.kid];
  if (header.alg !== "ES256" || !key) return "InvalidProviderToken";
  const ok = crypto.verify("sha256", Buffer.from(parts[0] + "." + parts[1]),
    {key: key.pem, dsaEncoding: "ieee-p1363"}, b64url(parts[2]));
  if (!ok || claims.iss !== key.team || !Number.isInteger(claims.iat)) return "InvalidProviderToken";
  return {team: key.team, iat: claims.iat};
}

function fail(stream, status, reason, apnsId, extra) {
  stats.answers[reason] = (stats.answers[reason] || 0) + 1;
  const body = Buffer.from(JSON.stringify(Object.assign({reason}, extra || {})));
  stream.respond({":status": status, "apns-id": apnsId, "content-type": "application/json"});
  stream.end(body);
}

function pattern(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = i % 251;
  return b;
}

function duplicated(rawHeaders) {
  const seen = new Set();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    if (!name.startsWith("apns-") && name !== "authorization") continue;
    if (seen.has(name)) return true;
    seen.add(name);
  }
  return false;
}

function handle(stream, h, rawHeaders, body) {
  stats.requests++;
  const path = h[":path"] || "";
  const apnsId = h["apns-id"] || crypto.randomUUID();
  if (path.startsWith("/large/")) {
    const n = parseInt(path.slice(7), 10);
    stream.respond({":status": 200, "content-length": String(n)});
    stream.end(pattern(n));
    return;
  }
  if (h[":method"] !== "POST") return fail(stream, 405, "MethodNotAllowed", apnsId);
  if (!path.startsWith("/3/device/")) return fail(stream, 404, "BadPath", apnsId);
  const token = path.slice(10);
  if (!token) return fail(stream, 400, "MissingDeviceToken", apnsId);
  if (duplicated(rawHeaders)) return fail(stream, 400, "DuplicateHeaders", apnsId);
  const why = checkToken(h["authorization"]);
  if (why) return fail(stream, why === "TooManyProviderTokenUpdates" ? 429 : 403, why, apnsId);
  const session = stream.session;
  if (!session.gwRaised) { // APNs: more streams once a request carried a valid provider token
    session.gwRaised = true;
    if (maxStreams !== (cfg.initialStreams || 1)) session.settings({maxConcurrentStreams: maxStreams});
  }
  if (h["apns-id"] !== undefined && !UUID.test(h["apns-id"])) return fail(stream, 400, "BadMessageId", apnsId);
  const topic = h["apns-topic"];
  if (!topic) return fail(stream, 400, "MissingTopic", apnsId);
  if (topics && !topics.has(topic)) return fail(stream, 400, "TopicDisallowed", apnsId);
  const pushType = h["apns-push-type"];
  if (pushType !== undefined && !PUSH_TYPES.has(pushType)) return fail(stream, 400, "InvalidPushType", apnsId);
  if (h["apns-priority"] !== undefined && !["10", "5", "1"].includes(h["apns-priority"])) {
    return fail(stream, 400, "BadPriority", apnsId);
  }
  const exp = h["apns-expiration"];
  if (exp !== undefined && !/^[0-9]+$/.test(exp)) return fail(stream, 400, "BadExpirationDate", apnsId);
  const collapse = h["apns-collapse-id"];
  if (collapse !== undefined && Buffer.byteLength(collapse) > 64) return fail(stream, 400, "BadCollapseId", apnsId);
  if (body.length === 0) return fail(stream, 400, "PayloadEmpty", apnsId);
  if (body.length > (pushType === "voip" ? 5120 : 4096)) return fail(stream, 413, "PayloadTooLarge", apnsId);
  if (large.has(token)) {
    return fail(stream, 410, "Unregistered", apnsId,
      {timestamp: Date.now(), padding: "x".repeat(Number(large.get(token)))});
  }
  if (!HEX.test(token) || token.length % 2 !== 0 || token.length > 200 || bad.has(token)) {
    return fail(stream, 400, "BadDeviceToken", apnsId);
  }
  if (dead.has(token)) return fail(stream, 410, "Unregistered", apnsId, {timestamp: Date.now()});
  if (seenIds.has(apnsId)) stats.duplicates++;
  seenIds.add(apnsId);
  stats.accepted++;
  stats.answers["OK"] = (stats.answers["OK"] || 0) + 1;
  stream.respond({":status": 200, "apns-id": apnsId});
  stream.end();
}

const server = http2.createSecureServer({
  cert: fs.readFileSync(cfg.cert),
  key: fs.readFileSync(cfg.key),
  allowHTTP1: false,
  ALPNProtocols: ["h2"],
  settings: {
    maxConcurrentStreams: cfg.initialStreams || 1,
    initialWindowSize: cfg.initialWindowSize || 65535,
    enablePush: false,
  },
  peerMaxConcurrentStreams: 100,
  maxSessionMemory: 64,
});

server.on("session", (session) => {
  stats.sessions++;
  session.gwOpen = 0;
  session.on("error", () => {});
});

server.on("stream", (stream, headers, flags, rawHeaders) => {
  const session = stream.session;
  session.gwOpen++;
  if (session.gwOpen > stats.peakStreams) stats.peakStreams = session.gwOpen;
  stream.on("close", () => {
    session.gwOpen--;
    if (stream.rstCode) stats.resets++;
  });
  stream.on("error", () => {});
  const chunks = [];
  stream.on("data", (c) => chunks.push(c));
  stream.on("end", () => {
    if (stream.destroyed || stream.closed) return;
    handle(stream, headers, rawHeaders, Buffer.concat(chunks));
  });
});

server.on("error", (e) => {
  process.stderr.write("peer error: " + e.stack + "\n");
  process.exit(2);
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write("READY " + server.address().port + "\n");
});

const rl = readline.createInterface({input: process.stdin});
rl.on("line", (line) => {
  if (line.trim() === "stats") process.stdout.write("STATS " + JSON.stringify(stats) + "\n");
});
rl.on("close", () => process.exit(0));
