// An xmpp.js (@xmpp/client) client over WebSocket, for the interop test.
// Usage: node client.js SERVICE DOMAIN USER PASSWORD PEER
// With USER "" it logs in as a guest (SASL ANONYMOUS). It says "online
// <jid>", sends "hello from xmpp.js" to PEER, and answers the first message
// with a body it receives with "echo: <body>", then stops. A message error
// is printed as "error <condition>".
"use strict";
const { client, xml } = require("@xmpp/client");

const [service, domain, username, password, peer] = process.argv.slice(2);
const xmpp = client({
  service,
  domain,
  resource: "xmppjs",
  ...(username ? { username, password } : {}),
});

const fail = (err) => {
  console.error("failed: " + (err && err.message ? err.message : err));
  process.exit(1);
};
xmpp.on("error", fail);
setTimeout(() => fail("timeout"), 15000).unref();

xmpp.on("stanza", async (st) => {
  if (!st.is("message")) return;
  if (st.attrs.type === "error") {
    const e = st.getChild("error");
    console.log("error " + (e && e.children[0] ? e.children[0].name : "?"));
    return;
  }
  const body = st.getChildText("body");
  if (!body) return;
  console.log("got " + st.attrs.from + " " + body);
  await xmpp.send(xml("message", { to: st.attrs.from, type: "chat" }, xml("body", {}, "echo: " + body)));
  await xmpp.stop();
  process.exit(0);
});

xmpp.on("online", async (address) => {
  console.log("online " + address.toString());
  await xmpp.send(xml("presence"));
  await xmpp.send(xml("message", { to: peer, type: "chat" }, xml("body", {}, "hello from xmpp.js")));
});

xmpp.start().catch(fail);
