"""Drives a running xmppd's chat functions with slixmpp's own plugins:
XEP-0308 corrections, XEP-0424 retractions (slixmpp 1.8 sends the older
urn:xmpp:message-retract:0 form inside XEP-0422 fastening), XEP-0461
replies and XEP-0425 moderation (also the :0 form), in a 1:1 chat and in a
room.

Usage: slixmpp_chatfn.py HOST PORT DOMAIN PASSWORD
The server runs with a 3-second correction window. Prints one JSON object
with what each step observed; the Go test asserts on it and then reads
the archives itself.
"""
import asyncio

from slixmpp import JID

from xmpptest_common import DOMAIN, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0004", "xep_0030", "xep_0045", "xep_0308", "xep_0359", "xep_0421", "xep_0422", "xep_0424", "xep_0425", "xep_0461")
ALICE, BOB = f"alice@{DOMAIN}", f"bob@{DOMAIN}"
ROOM = f"chatfn@conference.{DOMAIN}"


def waiter(c, event, match=lambda m: True):
    """A future for the next `event` on c whose stanza satisfies match."""
    fut = asyncio.get_running_loop().create_future()

    def on(msg):
        if not fut.done() and match(msg):
            fut.set_result(msg)
    c.add_event_handler(event, on)
    return fut


def error_of(msg):
    return msg["error"]["condition"], msg["error"]["text"]


async def main():
    out = {}
    alice, bob = make("alice", PLUGINS), make("bob", PLUGINS)
    if not await login(out, alice=start(alice), bob=start(bob)):
        report(out)
        return
    for c in (alice, bob):
        c.send_presence()
        # A round trip: the presence has been processed, so messages to
        # the bare JID reach this session.
        await c.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)

    async def correct():
        got = waiter(bob, "message", lambda m: m["id"] == "m1")
        msg = alice.make_message(mto=BOB, mbody="helo", mtype="chat")
        msg["id"] = "m1"
        msg.send()
        await got
        corrected = waiter(bob, "message_correction")
        fix = alice.make_message(mto=BOB, mbody="hello", mtype="chat")
        fix["replace"]["id"] = "m1"
        fix.send()
        m = await corrected
        return {"replace_id": m["replace"]["id"], "body": m["body"]}

    async def forbidden():
        err = waiter(bob, "message_error")
        fix = bob.make_message(mto=ALICE, mbody="not yours", mtype="chat")
        fix["replace"]["id"] = "m1"
        fix.send()
        return error_of(await err)

    async def late():
        msg = alice.make_message(mto=BOB, mbody="slow", mtype="chat")
        msg["id"] = "m2"
        msg.send()
        await asyncio.sleep(3.5)
        err = waiter(alice, "message_error")
        fix = alice.make_message(mto=BOB, mbody="too late", mtype="chat")
        fix["replace"]["id"] = "m2"
        fix.send()
        return error_of(await err)

    async def retract():
        got = waiter(bob, "message_retract")
        alice.plugin["xep_0424"].send_retraction(BOB, "m1")
        m = await got
        return {"apply_to": m["apply_to"]["id"], "from": str(m["from"].bare)}

    async def reply():
        got = waiter(alice, "message_reply")
        bob.plugin["xep_0461"].send_reply(reply_to=ALICE, reply_id="m2", mto=ALICE, mtype="chat", mbody="yes")
        m = await got
        return {"reply_id": m["reply"]["id"], "reply_to": str(m["reply"]["to"]), "body": m["body"]}

    async def room():
        muc_a, muc_b = alice.plugin["xep_0045"], bob.plugin["xep_0045"]
        await muc_a.join_muc_wait(ROOM, "alice", timeout=TIMEOUT)
        # Accept the default configuration: an instant room (XEP-0045 §10.1.2).
        form = alice.plugin["xep_0004"].make_form(ftype="submit")
        await muc_a.set_room_config(ROOM, form, timeout=TIMEOUT)
        await muc_b.join_muc_wait(ROOM, "bob", timeout=TIMEOUT)
        res = {}
        # bob's message, corrected, then retracted by its id.
        got = waiter(alice, "groupchat_message", lambda m: m["id"] == "g1")
        msg = bob.make_message(mto=ROOM, mbody="oops", mtype="groupchat")
        msg["id"] = "g1"
        msg.send()
        first = await got
        corrected = waiter(alice, "groupchat_message", lambda m: m["replace"]["id"] == "g1")
        fix = bob.make_message(mto=ROOM, mbody="fixed", mtype="groupchat")
        fix["replace"]["id"] = "g1"
        fix.send()
        res["corrected"] = (await corrected)["body"]
        retracted = waiter(alice, "message_retract")
        bob.plugin["xep_0424"].send_retraction(ROOM, "g1", mtype="groupchat")
        res["retracted"] = (await retracted)["apply_to"]["id"]
        # alice (the owner, a moderator) removes bob's next message.
        got = waiter(alice, "groupchat_message", lambda m: m["id"] == "g2")
        msg = bob.make_message(mto=ROOM, mbody="spam", mtype="groupchat")
        msg["id"] = "g2"
        msg.send()
        spam = await got
        sid = spam.xml.find("{urn:xmpp:sid:0}stanza-id").get("id")
        moderated = waiter(bob, "moderated_message")
        await alice.plugin["xep_0425"].moderate(JID(ROOM), sid, reason="no spam", timeout=TIMEOUT)
        m = await moderated
        res["moderated"] = {"id": m["apply_to"]["id"] == sid, "by": str(m["apply_to"]["moderated"]["by"]),
                            "reason": m["apply_to"]["moderated"]["reason"]}
        res["first_had_stanza_id"] = first.xml.find("{urn:xmpp:sid:0}stanza-id") is not None
        return res

    for name, coro in (("correct", correct()), ("forbidden", forbidden()), ("late", late()),
                       ("retract", retract()), ("reply", reply()), ("room", room())):
        await step(out, name, coro, timeout=TIMEOUT + 5, text_errors=True)

    await finish(out, alice, bob)


asyncio.run(main())
