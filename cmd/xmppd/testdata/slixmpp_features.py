"""Drives a running xmppd through its user-facing features with slixmpp.

Usage: slixmpp_features.py HOST PORT DOMAIN PASSWORD
alice and bob (both with PASSWORD) log in with STARTTLS and SCRAM and go
through, in order: roster subscription and presence, offline messages,
blocking, private XML storage, PEP (user avatar) and vCard-based avatar
hashes in presence. Each step is bounded by STEP_TIMEOUT and records what
it observed (and its error, if any) under its own key; later steps build
on the roster of the first. Prints one JSON object; the Go test asserts on
it (TestSlixmppFeaturesAgainstBinary).
"""
import asyncio
import hashlib
import signal
import struct
import zlib

from slixmpp.xmlstream import ElementBase

from xmpptest_common import DOMAIN, finish, login, make, report, start, step, stop

ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
TIMEOUT = 5        # one IQ or one awaited stanza
STEP_TIMEOUT = 8   # one whole step
PLUGINS = ("xep_0030", "xep_0054", "xep_0060", "xep_0115", "xep_0163", "xep_0084",
           "xep_0191", "xep_0049", "xep_0199", "xep_0203")
NS_UPDATE = "vcard-temp:x:update"
# A watchdog the event loop cannot block: a handler stuck in a loop would
# otherwise keep the process (and its memory) alive past every timeout.
signal.alarm(60)


def png(rgb):
    """A valid 1x1 PNG of one colour: real image bytes for the avatars."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00" + bytes(rgb))) + chunk(b"IEND", b""))


class Note(ElementBase):
    """A private XML fragment (XEP-0049) of our own namespace."""
    name = "note"
    namespace = "urn:xmppd:test:note"
    plugin_attrib = "note"
    interfaces = {"color", "body"}
    sub_interfaces = {"body"}


class Bot:
    """One slixmpp client and the log of everything it received."""

    def __init__(self, user):
        c = make(user, PLUGINS)
        c["xep_0049"].register(Note)
        self.c = c
        self.presences, self.messages, self.errors, self.events = [], [], [], []
        c.add_event_handler("presence", self._presence)
        c.add_event_handler("message", self._message)
        c.add_event_handler("message_error", self._error)
        c.add_event_handler("pubsub_publish", self._pubsub)

    def _presence(self, p):
        if p["type"] not in ("available", "unavailable", "away", "chat", "dnd", "xa"):
            return
        x = p.xml.find(f"{{{NS_UPDATE}}}x")
        photo = None if x is None else (x.findtext(f"{{{NS_UPDATE}}}photo") or "")
        self.presences.append({"from": str(p["from"]), "type": p["type"],
                               "status": p["status"], "photo": photo})

    def _message(self, m):
        stamp = None
        if m.xml.find("{urn:xmpp:delay}delay") is not None:
            s = m["delay"]["stamp"]
            stamp = s.isoformat() if s else None
        self.messages.append({"from": str(m["from"]), "type": m["type"], "id": m["id"],
                              "body": m["body"], "stamp": stamp})

    def _error(self, m):
        err = m["error"]
        self.errors.append({"from": str(m["from"]), "id": m["id"], "type": m["type"],
                            "condition": err["condition"],
                            "blocked": err.xml.find("{urn:xmpp:blocking:errors}blocked") is not None})

    def _pubsub(self, m):
        # Read the XML itself: iterating the stanza object would share its
        # iterator with xep_0060's loop that is calling this handler.
        items = m["pubsub_event"]["items"]
        for it in items.xml.findall("{http://jabber.org/protocol/pubsub#event}item"):
            self.events.append({"from": str(m["from"]), "node": items["node"], "id": it.get("id"),
                                "delayed": m.xml.find("{urn:xmpp:delay}delay") is not None,
                                "payload": it[0].tag if len(it) else None})

    def presences_from(self, bare, since=0):
        return [p for p in self.presences[since:] if p["from"].split("/")[0] == bare]

    def subscription(self, bare):
        return self.c.client_roster[bare]["subscription"]

    async def start(self):
        failed = await start(self.c, TIMEOUT)
        if failed:
            return failed
        # The caps (with urn:xmpp:avatar:metadata+notify from xep_0084) are
        # computed asynchronously after bind; have them ready before the
        # first presence carries them.
        await self.c["xep_0115"].update_caps(broadcast=False)
        await self.c.get_roster(timeout=TIMEOUT)
        return None

    async def stop(self):
        await stop(self.c, TIMEOUT)


async def wait_until(pred, timeout=TIMEOUT):
    """Polls pred (cheap, local state) until true; False on timeout."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not pred():
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def last_status(bot, bare, status, since=0):
    return any(p["type"] == "available" and p["status"] == status for p in bot.presences_from(bare, since))


async def main():
    out = {}
    alice, bob = Bot("alice"), Bot("bob")
    if not await login(out, alice=alice.start(), bob=bob.start()):
        report(out)
        return

    # Each step fills in its own record r; what it recorded before an
    # error stays beside the error.
    async def run(name, fn):
        await step(out, name, fn(out.setdefault(name, {})), STEP_TIMEOUT)

    # 1. Roster: alice asks, bob's slixmpp (auto_authorize and
    # auto_subscribe) approves and asks back, alice's approves.
    async def roster(r):
        alice.c.send_presence(pstatus="alice: ready")
        bob.c.send_presence(pstatus="bob: ready")
        alice.c.send_presence_subscription(pto=BOB)
        await wait_until(lambda: alice.subscription(BOB) == "both" and bob.subscription(ALICE) == "both")
        r["alice_has_bob"] = alice.subscription(BOB)
        r["bob_has_alice"] = bob.subscription(ALICE)
        r["alice_got_bob_ready"] = await wait_until(lambda: last_status(alice, BOB, "bob: ready"))
        r["bob_got_alice_ready"] = await wait_until(lambda: last_status(bob, ALICE, "alice: ready"))
        # Broadcast (no 'to') presence now reaches the contact through the
        # server's roster.
        na, nb = len(alice.presences), len(bob.presences)
        alice.c.send_presence(pstatus="alice: subscribed")
        bob.c.send_presence(pstatus="bob: subscribed")
        r["bob_got_alice_broadcast"] = await wait_until(lambda: last_status(bob, ALICE, "alice: subscribed", nb))
        r["alice_got_bob_broadcast"] = await wait_until(lambda: last_status(alice, BOB, "bob: subscribed", na))

    # 2. Offline: bob leaves, alice writes, bob comes back and gets it.
    async def offline(r):
        nonlocal bob
        n = len(alice.presences)
        await bob.stop()
        r["alice_saw_bob_leave"] = await wait_until(
            lambda: any(p["type"] == "unavailable" for p in alice.presences_from(BOB, n)))
        m = alice.c.make_message(mto=BOB, mbody="while you were away", mtype="chat")
        m["id"] = "offline-1"
        m.send()
        # A round trip on alice's stream: the server has handled the message.
        await alice.c["xep_0199"].ping(jid=DOMAIN, timeout=TIMEOUT)
        bob = Bot("bob")
        login = await bob.start()
        if login:
            raise RuntimeError("bob's second login: " + login)
        n = len(alice.presences)
        bob.c.send_presence(pstatus="bob: back")
        await wait_until(lambda: any(m["id"] == "offline-1" for m in bob.messages))
        got = [m for m in bob.messages if m["id"] == "offline-1"]
        if got:
            r["body"], r["stamp"], r["from"], r["type"] = got[0]["body"], got[0]["stamp"], got[0]["from"], got[0]["type"]
        r["count"] = len(got)
        r["bob_roster_after_login"] = bob.subscription(ALICE)
        # The server answers bob's initial presence with alice's (probe).
        r["bob_got_alice_presence"] = await wait_until(lambda: last_status(bob, ALICE, "alice: subscribed"))
        r["alice_saw_bob_back"] = await wait_until(lambda: last_status(alice, BOB, "bob: back", n))

    # 3. Blocking: bob blocks alice, she bounces, he unblocks.
    async def blocking(r):
        n = len(alice.presences)
        await bob.c["xep_0191"].block(ALICE, timeout=TIMEOUT)
        got = await bob.c["xep_0191"].get_blocked(timeout=TIMEOUT)
        r["blocklist"] = sorted(str(j) for j in got["blocklist"]["items"])
        r["alice_saw_unavailable"] = await wait_until(
            lambda: any(p["type"] == "unavailable" for p in alice.presences_from(BOB, n)))
        m = alice.c.make_message(mto=BOB, mbody="can you hear me?", mtype="chat")
        m["id"] = "blocked-1"
        m.send()
        await wait_until(lambda: any(e["id"] == "blocked-1" for e in alice.errors))
        r["bounce"] = next((e for e in alice.errors if e["id"] == "blocked-1"), None)
        m = bob.c.make_message(mto=ALICE, mbody="you cannot hear me", mtype="chat")
        m["id"] = "blocked-2"
        m.send()
        await wait_until(lambda: any(e["id"] == "blocked-2" for e in bob.errors))
        r["outbound"] = next((e for e in bob.errors if e["id"] == "blocked-2"), None)
        n = len(alice.presences)
        await bob.c["xep_0191"].unblock(ALICE, timeout=TIMEOUT)
        got = await bob.c["xep_0191"].get_blocked(timeout=TIMEOUT)
        r["blocklist_after"] = sorted(str(j) for j in got["blocklist"]["items"])
        r["alice_saw_available"] = await wait_until(
            lambda: any(p["type"] == "available" for p in alice.presences_from(BOB, n)))
        m = alice.c.make_message(mto=BOB, mbody="and now?", mtype="chat")
        m["id"] = "unblocked-1"
        m.send()
        await wait_until(lambda: any(m["id"] == "unblocked-1" for m in bob.messages))
        r["after_unblock"] = next((m["body"] for m in bob.messages if m["id"] == "unblocked-1"), None)
        # Delivery is in order: had the blocked message got through, it
        # would be here before the later one.
        r["bob_got_blocked"] = any(m["id"] == "blocked-1" for m in bob.messages)
        r["alice_got_blocked"] = any(m["id"] == "blocked-2" for m in alice.messages)

    # 4. Private XML storage: store, read back, replace, read back.
    async def private(r):
        for i, (color, body) in enumerate((("blue", "remember the milk"), ("red", "milk bought"))):
            note = Note()
            note["color"], note["body"] = color, body
            await alice.c["xep_0049"].store(note, timeout=TIMEOUT)
            got = await alice.c["xep_0049"].retrieve("note", timeout=TIMEOUT)
            r[f"read_{i}"] = {"color": got["private"]["note"]["color"], "body": got["private"]["note"]["body"]}

    # 5. PEP (XEP-0163) with XEP-0084 avatars: bob's caps carry
    # urn:xmpp:avatar:metadata+notify (not avatar:data+notify).
    async def pep(r):
        async def publish(img):
            ident = hashlib.sha1(img).hexdigest()
            await alice.c["xep_0084"].publish_avatar(img, timeout=TIMEOUT)
            await alice.c["xep_0084"].publish_avatar_metadata(
                {"id": ident, "type": "image/png", "bytes": len(img), "width": "1", "height": "1"}, timeout=TIMEOUT)
            return ident

        def event(ident):
            return next((e for e in bob.events if e["id"] == ident and e["from"] == ALICE), None)

        # The first may reach bob live or, if the server was still asking
        # bob's caps, as the last item once it knows them; either is right.
        first = await publish(png((255, 0, 0)))
        await wait_until(lambda: event(first) is not None)
        r["first"] = event(first)
        # Now the server knows bob's interests: the next one must be live.
        img = png((0, 0, 255))
        second = await publish(img)
        await wait_until(lambda: event(second) is not None)
        r["second"] = event(second)
        r["want_id"] = second
        items = await alice.c["xep_0060"].get_items(ALICE, "urn:xmpp:avatar:metadata", timeout=TIMEOUT)
        r["own_items"] = [it["id"] for it in items["pubsub"]["items"]]
        got = await alice.c["xep_0084"].retrieve_avatar(ALICE, second, timeout=TIMEOUT)
        r["own_data_ok"] = got["pubsub"]["items"]["item"]["avatar_data"]["value"] == img
        got = await bob.c["xep_0084"].retrieve_avatar(ALICE, second, timeout=TIMEOUT)
        r["bob_data_ok"] = got["pubsub"]["items"]["item"]["avatar_data"]["value"] == img
        r["bob_data_events"] = sum(1 for e in bob.events if e["node"] == "urn:xmpp:avatar:data")

    # 6. vCard avatar (XEP-0153): alice's slixmpp has no xep_0153 plugin,
    # so any vcard-temp:x:update in her presence comes from the server.
    async def avatar(r):
        r["alice_has_xep_0153"] = "xep_0153" in alice.c.plugin
        before = [p for p in bob.presences_from(ALICE) if p["type"] == "available"]
        r["photo_before"] = before[-1]["photo"] if before else "no presence"
        img = png((0, 255, 0))
        r["want"] = hashlib.sha1(img).hexdigest()
        vc = alice.c["xep_0054"].make_vcard()
        vc["FN"] = "Alice Example"
        vc["PHOTO"]["TYPE"] = "image/png"
        vc["PHOTO"]["BINVAL"] = img
        await alice.c["xep_0054"].publish_vcard(vc, timeout=TIMEOUT)
        n = len(bob.presences)
        alice.c.send_presence(pstatus="alice: new avatar")
        await wait_until(lambda: last_status(bob, ALICE, "alice: new avatar", n))
        got = [p for p in bob.presences_from(ALICE, n) if p["status"] == "alice: new avatar"]
        r["photo"] = got[0]["photo"] if got else "no presence"
        vc = await bob.c["xep_0054"].get_vcard(ALICE, cached=False, timeout=TIMEOUT)
        r["vcard_photo_ok"] = vc["vcard_temp"]["PHOTO"]["BINVAL"] == img

    await run("roster", roster)
    await run("offline", offline)
    await run("blocking", blocking)
    await run("private", private)
    await run("pep", pep)
    await run("avatar", avatar)

    await finish(out, alice.c, bob.c, timeout=TIMEOUT)


asyncio.run(main())
