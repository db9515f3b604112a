// An SMSC that is not ours: node's `smpp` package (farhadi/node-smpp) as the SMPP 3.4 server, strict where real
// SMSCs are strict. Started by tests/peers/node_smsc.py; prints {"port": N} once listening on 127.0.0.1.
//
// * message ids are hex numbers from 1 ("A" is the 10th message, "10" the 16th)
// * a submit_sm asking for a receipt gets its submit_sm_resp and its DELIVRD receipt (deliver_sm) in ONE socket
//   write (the socket is corked around both sends), so the client reads them together
// * short_message is decoded by node-smpp itself (GSM 03.38 for data_coding 0, UCS-2 for 8); concatenated
//   messages (UDH IE 0x00 or the SAR TLVs) are reassembled here, so the test can compare what arrived
// * every deliver_sm_resp status is counted: an ESME that answers a receipt with an error loses it here as at
//   most SMSCs, which never redeliver
//
// Commands on stdin, one per line, each answered with one JSON line on stdout: "stats", "messages".
'use strict';

const smpp = require('smpp');
const readline = require('readline');

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf('--' + name);
  return i >= 0 ? args[i + 1] : dflt;
};
const host = opt('host', '127.0.0.1');
const port = parseInt(opt('port', '0'), 10);
const receiptStyle = opt('receipt-style', 'text'); // text | tlv | both

let nextId = 1;
const stats = {
  binds: 0, submits: 0, messages: 0, gsm7: 0, ucs2: 0, multipart: 0, receipts: 0, deliver_ok: 0,
  deliver_errors: {}, unanswered: 0, same_write: 0, undecodable: 0,
};
const messages = []; // [destination, text, parts, data_coding]
const partial = new Map(); // destination|ref -> {total, parts: Map(seq -> text), coding}
const receivers = new Map(); // system_id -> [session]

function stamp(d) {
  const p = (n) => String(n).padStart(2, '0');
  return p(d.getUTCFullYear() % 100) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) + p(d.getUTCHours()) +
    p(d.getUTCMinutes());
}

function complete(dest, text, parts, coding) {
  stats.messages += 1;
  if (coding === 8) stats.ucs2 += 1; else stats.gsm7 += 1;
  if (parts > 1) stats.multipart += 1;
  messages.push([dest, text, parts, coding]);
}

function collect(pdu) {
  const sm = pdu.short_message;
  let text = '';
  let udh = null;
  if (sm && typeof sm === 'object' && !Buffer.isBuffer(sm)) {
    text = typeof sm.message === 'string' ? sm.message : '';
    udh = sm.udh || null;
  } else if (pdu.message_payload && typeof pdu.message_payload === 'object') {
    text = pdu.message_payload.message || '';
  } else {
    stats.undecodable += 1;
  }
  const coding = pdu.data_coding & 0x0F;
  let ref = null, total = 1, seq = 1;
  const concat = udh && udh.find((ie) => ie[0] === 0x00 || ie[0] === 0x08);
  if (concat) {
    if (concat[0] === 0x00) { ref = concat[2]; total = concat[3]; seq = concat[4]; }
    else { ref = concat.readUInt16BE(2); total = concat[4]; seq = concat[5]; }
  } else if (pdu.sar_msg_ref_num !== undefined) {
    ref = pdu.sar_msg_ref_num; total = pdu.sar_total_segments; seq = pdu.sar_segment_seqnum;
  }
  if (ref === null || total === 1) {
    complete(pdu.destination_addr, text, 1, coding);
    return;
  }
  const key = pdu.destination_addr + '|' + ref;
  let entry = partial.get(key);
  if (!entry) { entry = { total, parts: new Map(), coding }; partial.set(key, entry); }
  entry.parts.set(seq, text);
  if (entry.parts.size === entry.total) {
    partial.delete(key);
    let whole = '';
    for (let i = 1; i <= entry.total; i++) whole += entry.parts.get(i) || '';
    complete(pdu.destination_addr, whole, entry.total, entry.coding);
  }
}

function receipt(pdu, id, now) {
  const options = {
    source_addr_ton: pdu.dest_addr_ton, source_addr_npi: pdu.dest_addr_npi, source_addr: pdu.destination_addr,
    dest_addr_ton: pdu.source_addr_ton, dest_addr_npi: pdu.source_addr_npi, destination_addr: pdu.source_addr,
    esm_class: 0x04, data_coding: 0,
  };
  if (receiptStyle !== 'tlv') {
    options.short_message = Buffer.from(`id:${id} sub:001 dlvrd:001 submit date:${stamp(now)} done date:${stamp(now)}` +
      ' stat:DELIVRD err:000 text:', 'latin1');
  }
  if (receiptStyle !== 'text') {
    options.receipted_message_id = id;
    options.message_state = 2;
  }
  return new smpp.PDU('deliver_sm', options);
}

function sendReceipt(session, pdu) {
  stats.receipts += 1;
  stats.unanswered += 1;
  session.send(pdu, (resp) => {
    stats.unanswered -= 1;
    if (resp.command_status === 0) stats.deliver_ok += 1;
    else stats.deliver_errors[resp.command_status] = (stats.deliver_errors[resp.command_status] || 0) + 1;
  });
}

const server = smpp.createServer((session) => {
  let systemId = null;
  let receives = false;
  let transmits = false;
  session.on('error', () => session.destroy());
  const bind = (kind) => (pdu) => {
    systemId = pdu.system_id;
    receives = kind !== 'transmitter';
    transmits = kind !== 'receiver';
    stats.binds += 1;
    if (receives) {
      if (!receivers.has(systemId)) receivers.set(systemId, []);
      receivers.get(systemId).push(session);
    }
    session.send(pdu.response({ system_id: 'nodesmsc' }));
  };
  session.on('bind_transceiver', bind('transceiver'));
  session.on('bind_transmitter', bind('transmitter'));
  session.on('bind_receiver', bind('receiver'));
  session.on('close', () => {
    if (systemId && receivers.has(systemId)) {
      receivers.set(systemId, receivers.get(systemId).filter((s) => s !== session));
    }
  });
  session.on('enquire_link', (pdu) => session.send(pdu.response()));
  session.on('unbind', (pdu) => {
    session.send(pdu.response());
    session.close();
  });
  session.on('deliver_sm_resp', () => {}); // counted by the send callback
  session.on('submit_sm', (pdu) => {
    if (!transmits) {
      session.send(pdu.response({ command_status: smpp.ESME_RINVBNDSTS }));
      return;
    }
    stats.submits += 1;
    collect(pdu);
    const id = (nextId++).toString(16).toUpperCase();
    const resp = pdu.response({ message_id: id });
    if (!(pdu.registered_delivery & 0x03)) {
      session.send(resp);
      return;
    }
    const dlr = receipt(pdu, id, new Date());
    if (receives) {
      // One write: node queues both buffers while corked and writes them together on uncork.
      session.socket.cork();
      session.send(resp);
      sendReceipt(session, dlr);
      session.socket.uncork();
      stats.same_write += 1;
    } else {
      session.send(resp);
      const rx = (receivers.get(systemId) || []).find((s) => !s.closed);
      if (rx) sendReceipt(rx, dlr);
    }
  });
});

server.listen(port, host, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + '\n');
});

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'stats') process.stdout.write(JSON.stringify(stats) + '\n');
  else if (cmd === 'messages') process.stdout.write(JSON.stringify(messages) + '\n');
  else process.stdout.write(JSON.stringify({ error: 'unknown command ' + cmd }) + '\n');
});
rl.on('close', () => process.exit(0));
