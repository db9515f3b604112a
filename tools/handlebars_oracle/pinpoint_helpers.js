'use strict';
// Pinpoint's template helpers for handlebars.js, written from Pinpoint's documentation
// (userguide: message-template-helpers) with Handlebars.java semantics where the documentation is silent.
// This is the oracle's side of gateway/templates/helpers.py: keep the two in step.

const crypto = require('crypto');

const EACH_LIMIT = 15;
const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October',
  'November', 'December'];
const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const STYLES = { full: 'EEEE, MMMM d, y', long: 'MMMM d, y', medium: 'MMM d, y', short: 'M/d/yy' };

class RenderError extends Error {}

function str(v) { return v == null ? '' : String(v); }
// null and undefined are one value on the Python side (None), so both take the default.
function arg(a, i, d) { return i < a.length && a[i] != null ? a[i] : d; }
function hget(h, k, d) { return h && h[k] != null ? h[k] : d; }
function num(v) {
  if (v == null) return NaN;
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || Array.isArray(v)) return Number(v);
  return NaN;
}
function int(v, what) {
  const f = num(v);
  if (!isFinite(f)) throw new RenderError(what + ' must be a number');
  return Math.trunc(f);
}
function jkEmpty(v) {
  if (v == null || v === false) return true;
  if (v === true) return false;
  if (typeof v === 'number') return v === 0;
  if (typeof v === 'string' || Array.isArray(v)) return v.length === 0;
  return false;
}
function jsonEq(a, b) {
  if (a === undefined) a = null;
  if (b === undefined) b = null;
  if (typeof a === 'boolean' || typeof b === 'boolean') return a === b;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonEq(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a), kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEq(a[k], b[k]));
  }
  return a === b;
}
function cmp(a, b) {
  if (typeof a === 'number' && typeof b === 'number') {
    if (isNaN(a) || isNaN(b)) return null;
    return a > b ? 1 : a < b ? -1 : 0;
  }
  if (typeof a === 'string' && typeof b === 'string') return a > b ? 1 : a < b ? -1 : 0;
  return null;
}

const predicates = {
  and: (a) => a.length > 0 && a.every((x) => !jkEmpty(x)),
  eq: (a) => jsonEq(arg(a, 0), arg(a, 1)),
  gt: (a) => { const c = cmp(arg(a, 0), arg(a, 1)); return c !== null && c > 0; },
  gte: (a) => { const c = cmp(arg(a, 0), arg(a, 1)); return c !== null && c >= 0; },
  lt: (a) => { const c = cmp(arg(a, 0), arg(a, 1)); return c !== null && c < 0; },
  lte: (a) => { const c = cmp(arg(a, 0), arg(a, 1)); return c !== null && c <= 0; },
  neq: (a) => !jsonEq(arg(a, 0), arg(a, 1)),
  not: (a) => jkEmpty(arg(a, 0)),
  or: (a) => a.some((x) => !jkEmpty(x)),
};

// -- dates -------------------------------------------------------------------------------------------------------
function validZone(tz) {
  if (!tz) return 'UTC';
  try { new Intl.DateTimeFormat('en-US', { timeZone: tz }); return tz; } catch (e) { return 'UTC'; }
}
function fields(ms, tz) {
  const dtf = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric',
    day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', timeZoneName: 'short' });
  const p = {};
  for (const part of dtf.formatToParts(new Date(ms))) p[part.type] = part.value;
  const y = +p.year, mo = +p.month, d = +p.day, h = +p.hour, mi = +p.minute, s = +p.second;
  const whole = Math.floor(ms / 1000) * 1000;
  const offset = Math.round((Date.UTC(y, mo - 1, d, h, mi, s) - whole) / 60000);
  const wd = (new Date(Date.UTC(y, mo - 1, d)).getUTCDay() + 6) % 7; // Monday = 0
  const doy = Math.round((Date.UTC(y, mo - 1, d) - Date.UTC(y, 0, 1)) / 86400000) + 1;
  return { y, mo, d, h, mi, s, ms: ((ms % 1000) + 1000) % 1000, offset, wd, doy, name: p.timeZoneName };
}
function tokens(pattern) {
  const out = [];
  const rx = /'(?:[^']|'')*'|([A-Za-z])\1*|[\s\S]/g;
  let m;
  while ((m = rx.exec(pattern)) !== null) {
    const t = m[0];
    if (t[0] === "'") out.push(['', 0, t === "''" ? "'" : t.slice(1, -1).replace(/''/g, "'")]);
    else if (m[1]) {
      if ('GyMLdEuaHkKhmsSzZXD'.indexOf(m[1]) < 0) throw new RenderError('unsupported date pattern letter ' + m[1]);
      out.push([m[1], t.length, '']);
    } else out.push(['', 0, t]);
  }
  return out;
}
function pad(n, w) { let s = String(n); while (s.length < w) s = '0' + s; return s; }
function p2(n) { return pad(n, 2); }
function formatDate(ms, tz, pattern) {
  pattern = STYLES[pattern] || pattern;
  const f = fields(ms, tz);
  let out = '';
  for (const [L, n, lit] of tokens(pattern)) {
    if (!L) { out += lit; continue; }
    switch (L) {
      case 'G': out += f.y > 0 ? 'AD' : 'BC'; break;
      case 'y': out += n === 2 ? p2(f.y % 100) : pad(f.y, n); break;
      case 'M': case 'L': out += n >= 4 ? MONTHS[f.mo - 1] : n === 3 ? MONTHS[f.mo - 1].slice(0, 3) : pad(f.mo, n); break;
      case 'd': out += pad(f.d, n); break;
      case 'E': out += n >= 4 ? DAYS[f.wd] : DAYS[f.wd].slice(0, 3); break;
      case 'u': out += pad(f.wd + 1, n); break;
      case 'a': out += f.h < 12 ? 'AM' : 'PM'; break;
      case 'H': out += pad(f.h, n); break;
      case 'k': out += pad(f.h || 24, n); break;
      case 'K': out += pad(f.h % 12, n); break;
      case 'h': out += pad(f.h % 12 || 12, n); break;
      case 'm': out += pad(f.mi, n); break;
      case 's': out += pad(f.s, n); break;
      case 'S': out += pad(f.ms, n); break;
      case 'D': out += pad(f.doy, n); break;
      case 'z': out += f.name; break;
      case 'Z': { const o = f.offset, a = Math.abs(o); out += (o < 0 ? '-' : '+') + p2(Math.floor(a / 60)) + p2(a % 60); break; }
      case 'X': {
        const o = f.offset, a = Math.abs(o), sg = o < 0 ? '-' : '+';
        if (o === 0) out += 'Z';
        else out += n === 1 ? sg + p2(Math.floor(a / 60)) : n === 2 ? sg + p2(Math.floor(a / 60)) + p2(a % 60)
          : sg + p2(Math.floor(a / 60)) + ':' + p2(a % 60);
        break;
      }
    }
  }
  return out;
}
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/;
function offsetMinutes(t) {
  if (t == null) return 0;
  if (t === 'Z' || /^(UTC|GMT)$/i.test(t)) return 0;
  const sign = t[0] === '-' ? -1 : 1, d = t.slice(1).replace(':', '');
  return sign * (parseInt(d.slice(0, 2), 10) * 60 + (d.length >= 4 ? parseInt(d.slice(2, 4), 10) : 0));
}
function validDate(y, mo, d, h, mi, s) {
  const dt = new Date(Date.UTC(2000, mo - 1, d));
  dt.setUTCFullYear(y);
  return mo >= 1 && mo <= 12 && d >= 1 && dt.getUTCMonth() === mo - 1 && dt.getUTCDate() === d && h < 24 && mi < 60 && s < 60;
}
function utcMs(y, mo, d, h, mi, s, milli) {
  const dt = new Date(Date.UTC(2000, mo - 1, d, h, mi, s, 0));
  dt.setUTCFullYear(y);
  return dt.getTime() + milli;
}
function parseIso(text) {
  const m = ISO.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, hh, mi, ss, frac, tz] = m;
  if (!validDate(+y, +mo, +d, +(hh || 0), +(mi || 0), +(ss || 0))) return null;
  const micro = parseInt((frac || '0').slice(0, 6).padEnd(6, '0'), 10);
  return utcMs(+y, +mo, +d, +(hh || 0), +(mi || 0), +(ss || 0), Math.floor(micro / 1000)) - offsetMinutes(tz) * 60000;
}
function escapeRx(s) { return s.replace(/[.*+?^${}()|[\]\\\/-]/g, '\\$&'); }
function parsePattern(text, pattern, nowYear) {
  let rx = '';
  const flds = [];
  for (const [L, n, lit] of tokens(STYLES[pattern] || pattern)) {
    if (!L) { rx += escapeRx(lit); continue; }
    if ((L === 'M' || L === 'L') && n >= 3) rx += '(' + (n >= 4 ? MONTHS : MONTHS.map((m) => m.slice(0, 3))).join('|') + ')';
    else if (L === 'E') rx += '(' + (n >= 4 ? DAYS : DAYS.map((d) => d.slice(0, 3))).join('|') + ')';
    else if (L === 'a') rx += '(AM|PM|am|pm)';
    else if (L === 'G') rx += '(AD|BC)';
    else if ('zZX'.indexOf(L) >= 0) rx += '(Z|UTC|GMT|[+-]\\d{2}(?::?\\d{2})?)';
    else if (L === 'y') rx += n === 2 ? '(\\d{2})' : '(\\d{1,4})';
    else if (L === 'S') rx += '(\\d{1,9})';
    else rx += n <= 2 ? '(\\d{1,' + Math.max(n, 2) + '})' : '(\\d{' + n + '})';
    flds.push([L, n]);
  }
  const m = new RegExp('^(?:' + rx + ')', 'i').exec(text.trim());
  if (!m) return null;
  let y = 1970, mo = 1, d = 1, h = 0, mi = 0, s = 0, milli = 0, pm = null, tz = null;
  flds.forEach(([L, n], i) => {
    const v = m[i + 1];
    if (L === 'y') {
      y = parseInt(v, 10);
      if (n === 2) { const c = nowYear - 80; y = c - (c % 100) + y; if (y < nowYear - 80) y += 100; }
    } else if (L === 'M' || L === 'L') {
      mo = n >= 3 ? (n >= 4 ? MONTHS : MONTHS.map((x) => x.slice(0, 3))).map((x) => x.toLowerCase()).indexOf(v.toLowerCase()) + 1 : parseInt(v, 10);
    } else if (L === 'd') d = parseInt(v, 10);
    else if (L === 'H' || L === 'k') h = parseInt(v, 10) % 24;
    else if (L === 'K' || L === 'h') h = parseInt(v, 10) % 12;
    else if (L === 'm') mi = parseInt(v, 10);
    else if (L === 's') s = parseInt(v, 10);
    else if (L === 'S') milli = parseInt(v, 10);
    else if (L === 'a') pm = v.toUpperCase() === 'PM';
    else if ('zZX'.indexOf(L) >= 0) tz = v;
  });
  if (pm === true && h < 12) h += 12;
  if (!validDate(y, mo, d, h, mi, s)) return null;
  return utcMs(y, mo, d, h, mi, s, 0) - offsetMinutes(tz) * 60000 + milli;
}

module.exports = function register(Handlebars, clock) {
  const H = Handlebars;
  const value = {};
  value.abbreviate = (a, h) => {
    const s = str(arg(a, 0)), w = int(arg(a, 1, hget(h, 'width')), 'width');
    if (w < 4) throw new RenderError('abbreviate width must be at least 4');
    const c = Array.from(s);
    return c.length <= w ? s : c.slice(0, w - 3).join('') + '...';
  };
  value.capitalize = (a, h) => {
    let s = str(arg(a, 0));
    if (hget(h, 'fully')) s = s.toLowerCase();
    return s.replace(/(^|[ \t\n\r\f\v])([^ \t\n\r\f\v])/gu, (m, p, c) => p + c.toUpperCase());
  };
  value.capitalizeFirst = (a) => { const c = Array.from(str(arg(a, 0))); return c.length ? c[0].toUpperCase() + c.slice(1).join('') : ''; };
  function width(a, h, what) {
    const raw = arg(a, 1, hget(h, 'size'));
    if (raw == null) throw new RenderError(what + ' needs a width');
    const w = int(raw, what);
    if (w > 1000000) throw new RenderError('width too large');
    return w;
  }
  function padStr(h) { return str(hget(h, 'pad', ' ')) || ' '; }
  function fill(p, n) { const c = Array.from(p); let o = ''; for (let i = 0; i < n; i++) o += c[i % c.length]; return o; }
  value.center = (a, h) => {
    const s = str(arg(a, 0)), w = width(a, h, 'center'), p = padStr(h), n = w - Array.from(s).length;
    if (n <= 0) return s;
    const left = Math.floor(n / 2);
    return fill(p, left) + s + fill(p, n - left);
  };
  value.ljust = (a, h) => { const s = str(arg(a, 0)); return s + fill(padStr(h), width(a, h, 'ljust') - Array.from(s).length); };
  value.rjust = (a, h) => { const s = str(arg(a, 0)); return fill(padStr(h), width(a, h, 'rjust') - Array.from(s).length) + s; };
  value.cut = (a) => { const s = str(arg(a, 0)), w = str(arg(a, 1, ' ')); return w ? s.split(w).join('') : s; };
  value.replace = (a) => { const s = str(arg(a, 0)), o = str(arg(a, 1)), n = str(arg(a, 2)); return o ? s.split(o).join(n) : s; };
  value.inflect = (a, h) => {
    const count = arg(a, 0), n = num(count);
    const word = str(n > 1 || n === 0 ? arg(a, 2) : arg(a, 1));
    return arg(a, 3, hget(h, 'includeCount')) === true ? str(count) + ' ' + word : word;
  };
  value.join = (a, h) => {
    const items = arg(a, 0), sep = str(arg(a, 1, ','));
    const joined = Array.isArray(items) ? items.map((x) => (x == null ? '' : str(x))).join(sep) : str(items);
    return str(hget(h, 'prefix', '')) + joined + str(hget(h, 'suffix', ''));
  };
  value.lower = (a) => str(arg(a, 0)).toLowerCase();
  value.upper = (a) => str(arg(a, 0)).toUpperCase();
  value.ordinalize = (a) => {
    const v = arg(a, 0), f = num(v);
    if (!isFinite(f)) return str(v);
    const n = Math.trunc(f), x = Math.abs(n);
    const suffix = [11, 12, 13].indexOf(x % 100) >= 0 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' })[x % 10] || 'th';
    return String(n) + suffix;
  };
  value.slugify = (a) => str(arg(a, 0)).normalize('NFD').replace(/[^A-Za-z0-9_ \t\n\r\f\v-]/g, '')
    .replace(/^[ \t\n\r\f\v]+|[ \t\n\r\f\v]+$/g, '').toLowerCase().replace(/[- \t\n\r\f\v]+/g, '-');
  value.stripTags = (a) => str(arg(a, 0)).replace(/<[^>]*>/g, '');
  value.substring = (a) => {
    const c = Array.from(str(arg(a, 0))), n = c.length;
    const start = Math.min(Math.max(int(arg(a, 1, 0), 'start'), 0), n);
    const e = arg(a, 2);
    const end = e == null ? n : Math.min(Math.max(int(e, 'end'), 0), n);
    return end > start ? c.slice(start, end).join('') : '';
  };
  value.yesno = (a, h) => {
    const v = arg(a, 0);
    if (v == null) return hget(h, 'maybe', 'maybe');
    return jkEmpty(v) ? hget(h, 'no', 'no') : hget(h, 'yes', 'yes');
  };
  value.dateFormat = (a, h) => {
    const v = arg(a, 0);
    const pattern = str(hget(h, 'outputFormat', hget(h, 'format', arg(a, 1, 'medium'))));
    const inputFormat = hget(h, 'inputFormat');
    let ms = null;
    if (typeof v === 'number') ms = isFinite(v) ? Math.trunc(v) : null;
    else if (v != null && typeof v !== 'boolean') {
      ms = inputFormat != null ? parsePattern(str(v), str(inputFormat), new Date(clock() * 1000).getUTCFullYear()) : parseIso(str(v));
    }
    if (ms === null) return v;
    return formatDate(ms, validZone(str(hget(h, 'tz'))), pattern);
  };
  value.now = (a, h) => formatDate(Math.floor(clock() * 1000), validZone(str(hget(h, 'tz'))), str(arg(a, 0, hget(h, 'format', 'medium'))));
  function round8(f) { return !isFinite(f) || Math.abs(f) >= 1e21 ? f : Number(f.toFixed(8)); }
  value.add = (a) => round8(num(arg(a, 0)) + num(arg(a, 1)));
  value.subtract = (a) => round8(num(arg(a, 0)) - num(arg(a, 1)));
  value.multiply = (a) => round8(num(arg(a, 0)) * num(arg(a, 1)));
  value.divide = (a) => round8(num(arg(a, 0)) / num(arg(a, 1)));
  value.modulo = (a) => round8(num(arg(a, 0)) % num(arg(a, 1)));
  value.ceiling = (a) => Math.ceil(num(arg(a, 0)));
  value.floor = (a) => Math.floor(num(arg(a, 0)));
  value.round = (a) => Math.round(num(arg(a, 0)));
  value.encode64 = (a) => Buffer.from(str(arg(a, 0)), 'utf8').toString('base64');
  value.decode64 = (a) => Buffer.from(str(arg(a, 0)), 'base64').toString('utf8');
  value.md5 = (a) => crypto.createHash('md5').update(str(arg(a, 0)), 'utf8').digest('hex');
  value.sha256 = (a) => crypto.createHash('sha256').update(str(arg(a, 0)), 'utf8').digest('hex');
  value.sha512 = (a) => crypto.createHash('sha512').update(str(arg(a, 0)), 'utf8').digest('hex');
  value.uuid = () => crypto.randomUUID();
  value.log = () => undefined; // renders nothing and logs nothing

  for (const name of Object.keys(value)) {
    const fn = value[name];
    H.registerHelper(name, function (...a) {
      const options = a.pop();
      return fn(a, options.hash);
    });
  }
  for (const name of Object.keys(predicates)) {
    const pred = predicates[name];
    H.registerHelper(name, function (...a) {
      const options = a.pop();
      const r = pred(a, options.hash);
      if (options.fn) return r ? options.fn(this) : options.inverse(this);
      return r ? ('yes' in options.hash ? options.hash.yes : true) : ('no' in options.hash ? options.hash.no : false);
    });
  }
  const builtinIf = H.helpers['if'];
  H.registerHelper('if', function (conditional, options) {
    if (arguments.length !== 2) throw new Error('#if requires exactly one argument');
    if (options.fn) return builtinIf.call(this, conditional, options);
    const r = !((!options.hash.includeZero && !conditional) || H.Utils.isEmpty(conditional));
    return r ? ('yes' in options.hash ? options.hash.yes : true) : ('no' in options.hash ? options.hash.no : false);
  });
  // Pinpoint renders at most 15 items of a list in {{#each}}; otherwise handlebars.js 4.7's each.
  H.registerHelper('each', function (context, options) {
    if (!options) throw new Error('Must pass iterator to #each');
    const fn = options.fn, inverse = options.inverse;
    let i = 0, ret = '', data;
    if (options.data) data = H.createFrame(options.data);
    function exec(field, index, last) {
      if (data) { data.key = field; data.index = index; data.first = index === 0; data.last = !!last; }
      ret = ret + fn(context[field], { data: data, blockParams: [context[field], field] });
    }
    if (context && typeof context === 'object') {
      if (Array.isArray(context)) {
        const n = Math.min(context.length, EACH_LIMIT);
        for (; i < n; i++) exec(i, i, i === n - 1);
      } else {
        const keys = Object.keys(context).slice(0, EACH_LIMIT);
        for (; i < keys.length; i++) exec(keys[i], i, i === keys.length - 1);
      }
    }
    if (i === 0) ret = inverse(this);
    return ret;
  });
};
module.exports.RenderError = RenderError;
