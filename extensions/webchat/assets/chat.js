// xmppd web chat: a visitor's enquiry over XMPP on WebSocket (RFC 7395),
// as a SASL ANONYMOUS guest (XEP-0175). No library: the few stanzas a
// visitor needs are built and read here with the browser's DOM parser.
"use strict";

const NS = {
  framing: "urn:ietf:params:xml:ns:xmpp-framing",
  sasl: "urn:ietf:params:xml:ns:xmpp-sasl",
  bind: "urn:ietf:params:xml:ns:xmpp-bind",
  client: "jabber:client",
  muc: "http://jabber.org/protocol/muc",
  data: "jabber:x:data",
  enquiry: "urn:xmppd:enquiry:0",
  upload: "urn:xmpp:http:upload:0",
  oob: "jabber:x:oob",
};

const cfg = JSON.parse(document.getElementById("xmppd-config").textContent);
const $ = (id) => document.getElementById(id);

function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&apos;" })[c]);
}

// Stream is one XMPP session over a WebSocket: every message is one
// element (RFC 7395 §3.3.3).
class Stream {
  constructor(url) {
    this.url = url;
    this.waiting = [];   // {match, resolve, reject}
    this.handlers = [];  // stanza handlers
    this.nextID = 1;
  }
  connect() {
    return new Promise((resolve, reject) => {
      this.ws = new WebSocket(this.url, "xmpp");
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("cannot reach the chat server"));
      this.ws.onclose = () => { for (const w of this.waiting) w.reject(new Error("the connection closed")); this.waiting = []; status("Disconnected."); };
      this.ws.onmessage = (ev) => this.receive(ev.data);
    });
  }
  receive(text) {
    const doc = new DOMParser().parseFromString(text, "application/xml");
    const el = doc.documentElement;
    if (!el || el.nodeName === "parsererror") return;
    for (let i = 0; i < this.waiting.length; i++) {
      if (this.waiting[i].match(el)) {
        const w = this.waiting.splice(i, 1)[0];
        w.resolve(el);
        return;
      }
    }
    for (const h of this.handlers) h(el);
  }
  send(xml) { this.ws.send(xml); }
  wait(match) { return new Promise((resolve, reject) => this.waiting.push({ match, resolve, reject })); }
  id() { return "w" + (this.nextID++); }
  async open(domain) {
    const features = this.wait((el) => el.localName === "features");
    this.send(`<open xmlns='${NS.framing}' to='${esc(domain)}' version='1.0'/>`);
    return features;
  }
  async iq(type, to, payload) {
    const id = this.id();
    const answer = this.wait((el) => el.localName === "iq" && el.getAttribute("id") === id);
    this.send(`<iq xmlns='${NS.client}' type='${type}' id='${id}'${to ? ` to='${esc(to)}'` : ""}>${payload}</iq>`);
    const res = await answer;
    if (res.getAttribute("type") === "error") {
      const text = res.getElementsByTagName("text")[0];
      throw new Error(text ? text.textContent : "the server refused the request");
    }
    return res;
  }
}

function status(text) { $("status").textContent = text; }

// upload puts a file on the server's upload service (XEP-0363) and
// returns its download URL.
async function upload(s, file) {
  const type = file.type || "application/octet-stream";
  const res = await s.iq("get", cfg.upload_domain,
    `<request xmlns='${NS.upload}' filename='${esc(file.name)}' size='${file.size}' content-type='${esc(type)}'/>`);
  const put = res.getElementsByTagName("put")[0];
  const headers = { "Content-Type": type };
  for (const h of put.getElementsByTagName("header")) headers[h.getAttribute("name")] = h.textContent;
  const r = await fetch(put.getAttribute("url"), { method: "PUT", body: file, headers });
  if (!r.ok) throw new Error(`the upload failed (${r.status})`);
  return res.getElementsByTagName("get")[0].getAttribute("url");
}

function show(who, body, mine) {
  const p = document.createElement("p");
  p.className = mine ? "mine" : "theirs";
  const name = document.createElement("b");
  name.textContent = who + ": ";
  p.appendChild(name);
  p.appendChild(document.createTextNode(body));
  $("log").appendChild(p);
  $("log").scrollTop = $("log").scrollHeight;
}

// context collects what the enquiry room records: the link's parameters
// (utm_* and any other), the visitor form, the device and the language.
function context(geo) {
  const fields = { channel: "weblink", channel_detail: location.href, language: navigator.language || "" };
  for (const [k, v] of new URLSearchParams(location.search)) {
    if (k.startsWith("utm_")) fields[k] = v;
  }
  for (const k of ["first_name", "last_name", "phone", "email"]) {
    const v = $(k).value.trim();
    if (v) fields["visitor_" + k] = v;
  }
  fields.device_platform = (navigator.userAgentData && navigator.userAgentData.platform) || navigator.platform || "";
  fields.device_user_agent = navigator.userAgent;
  fields.device_screen = `${screen.width}x${screen.height}`;
  fields.device_local_time = new Date().toString();
  if (geo) fields.device_geo = geo;
  return fields;
}

function form(fields) {
  let x = `<x xmlns='${NS.data}' type='submit'><field var='FORM_TYPE' type='hidden'><value>${NS.enquiry}</value></field>`;
  for (const [k, v] of Object.entries(fields)) {
    if (v !== "") x += `<field var='${esc(k)}'><value>${esc(v)}</value></field>`;
  }
  return x + "</x>";
}

function askGeo() {
  if (!$("share_geo").checked || !navigator.geolocation) return Promise.resolve("");
  return new Promise((resolve) => navigator.geolocation.getCurrentPosition(
    (p) => resolve(`${p.coords.latitude.toFixed(4)},${p.coords.longitude.toFixed(4)}`),
    () => resolve(""), { timeout: 5000 }));
}

async function start(ev) {
  ev.preventDefault();
  $("start").disabled = true;
  const first = $("message").value.trim();
  try {
    status("Connecting…");
    const geo = await askGeo();
    const s = new Stream(cfg.websocket);
    await s.connect();
    let features = await s.open(cfg.guest_domain);
    const mechs = [...features.getElementsByTagName("mechanism")].map((m) => m.textContent);
    if (!mechs.includes("ANONYMOUS")) throw new Error("guest access is not available");
    const outcome = s.wait((el) => el.localName === "success" || el.localName === "failure");
    s.send(`<auth xmlns='${NS.sasl}' mechanism='ANONYMOUS'>=</auth>`);
    if ((await outcome).localName !== "success") throw new Error("guest login refused");
    await s.open(cfg.guest_domain);
    const bound = await s.iq("set", "", `<bind xmlns='${NS.bind}'/>`);
    const me = bound.getElementsByTagName("jid")[0].textContent;
    status("Starting your enquiry…");
    const res = await s.iq("set", cfg.muc_domain, `<enquiry xmlns='${NS.enquiry}'>${form(context(geo))}</enquiry>`);
    const room = res.getElementsByTagName("enquiry")[0].getAttribute("room");
    const nick = [$("first_name").value.trim(), $("last_name").value.trim()].join(" ").trim() || "Visitor";
    s.handlers.push((el) => {
      if (el.localName !== "message" || el.getAttribute("type") !== "groupchat") return;
      const body = el.getElementsByTagName("body")[0];
      if (!body || el.getElementsByTagName("delay").length) return;
      const from = el.getAttribute("from") || "";
      const who = from.includes("/") ? from.slice(from.indexOf("/") + 1) : "Support";
      show(who, body.textContent, who === nick);
    });
    const joined = s.wait((el) => el.localName === "presence" && (el.getAttribute("from") || "").startsWith(room + "/"));
    s.send(`<presence xmlns='${NS.client}' to='${esc(room)}/${esc(nick)}'><x xmlns='${NS.muc}'/></presence>`);
    await joined;
    status("Connected. Our team has been told.");
    $("intro").hidden = true;
    $("chat").hidden = false;
    const say = (text) => s.send(`<message xmlns='${NS.client}' type='groupchat' to='${esc(room)}' id='${s.id()}'><body>${esc(text)}</body></message>`);
    if (first) say(first);
    $("chat").addEventListener("submit", (e) => {
      e.preventDefault();
      const text = $("reply").value.trim();
      if (text) { say(text); $("reply").value = ""; }
    });
    if (cfg.upload_domain) {
      $("attach").hidden = false;
      $("file").addEventListener("change", async () => {
        for (const f of $("file").files) {
          try {
            status(`Sending ${f.name}…`);
            const url = await upload(s, f);
            s.send(`<message xmlns='${NS.client}' type='groupchat' to='${esc(room)}' id='${s.id()}'><body>${esc(url)}</body><x xmlns='${NS.oob}'><url>${esc(url)}</url></x></message>`);
            status(`Sent ${f.name}.`);
          } catch (err) {
            status(`Sorry, ${f.name} was not sent: ${err.message}`);
          }
        }
        $("file").value = "";
      });
    }
    window.xmppdChat = { me, room };
  } catch (err) {
    status("Sorry: " + err.message);
    $("start").disabled = false;
  }
}

$("intro").addEventListener("submit", start);
