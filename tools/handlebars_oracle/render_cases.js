'use strict';
// Renders a JSON list of {template, data} with the oracle (for ad-hoc differential runs):
//   node render_cases.js in.json out.json
const fs = require('fs');
const Handlebars = require('handlebars');
const register = require('./pinpoint_helpers');
const CLOCK = 1764072000.25;
const H = Handlebars.create();
register(H, () => CLOCK);
const cases = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const out = cases.map((c) => {
  try { return { expected: H.compile(c.template)(c.data) }; } catch (e) { return { error: String(e.message).split('\n')[0] }; }
});
fs.writeFileSync(process.argv[3], JSON.stringify(out));
