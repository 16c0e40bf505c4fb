"""Drives a running xmppd's XEP-0280 Message Carbons with slixmpp's xep_0280
plugin (Debian's python3-slixmpp).

Usage: slixmpp_carbons.py HOST PORT DOMAIN PASSWORD
alice logs in twice (laptop, phone), both enabling carbons; bob once.
Steps: the server feature; a 'sent' carbon on alice's phone for what her
laptop sends; a 'received' carbon on the phone for what bob sends to the
laptop's full JID; <private/> suppressing the copy. Prints one JSON object
with what each step observed; the Go test asserts on it.
"""
import asyncio

from xmpptest_common import DOMAIN, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0030", "xep_0297", "xep_0280")


def queue_events(c, event):
    """Collects the forwarded messages of one carbon event in a queue."""
    q = asyncio.Queue()

    def handler(msg):
        fwd = msg[event]
        q.put_nowait({"from": str(fwd["from"]), "to": str(fwd["to"]), "body": fwd["body"],
                      "type": fwd["type"], "outer_from": str(msg["from"])})
    c.add_event_handler(event, handler)
    return q


async def main():
    out = {}
    laptop, phone = make("alice", PLUGINS, "laptop"), make("alice", PLUGINS, "phone")
    bob = make("bob", PLUGINS)
    if not await login(out, laptop=start(laptop), phone=start(phone), bob=start(bob)):
        report(out)
        return

    sent = queue_events(phone, "carbon_sent")
    received = queue_events(phone, "carbon_received")
    laptop_msgs, bob_msgs = asyncio.Queue(), asyncio.Queue()
    laptop.add_event_handler("message", lambda m: m["body"] and laptop_msgs.put_nowait(m["body"]))
    bob.add_event_handler("message", lambda m: m["body"] and bob_msgs.put_nowait(m["body"]))

    async def feature():
        info = await laptop.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        return {"has_feature": "urn:xmpp:carbons:2" in info["disco_info"]["features"]}

    async def enable():
        await laptop.plugin["xep_0280"].enable(timeout=TIMEOUT)
        await phone.plugin["xep_0280"].enable(timeout=TIMEOUT)
        for c in (laptop, phone, bob):
            c.send_presence()
        # A round trip per client: its presence has been processed.
        for c in (laptop, phone, bob):
            await c.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        return {}

    async def sent_copy():
        laptop.send_message(mto=f"bob@{DOMAIN}", mbody="from the laptop", mtype="chat")
        got = await bob_msgs.get()
        return {"bob_got": got, "carbon": await sent.get()}

    async def received_copy():
        bob.send_message(mto=str(laptop.boundjid), mbody="to the laptop", mtype="chat")
        got = await laptop_msgs.get()
        return {"laptop_got": got, "carbon": await received.get()}

    async def private():
        m = laptop.make_message(mto=f"bob@{DOMAIN}", mbody="off the record", mtype="chat")
        m.enable("carbon_private")
        m.send()
        laptop.send_message(mto=f"bob@{DOMAIN}", mbody="on the record", mtype="chat")
        bob_got = [await bob_msgs.get(), await bob_msgs.get()]
        return {"bob_got": bob_got, "next_carbon": await sent.get()}

    for name, coro in (("feature", feature()), ("enable", enable()), ("sent", sent_copy()),
                       ("received", received_copy()), ("private", private())):
        await step(out, name, coro)

    await finish(out, laptop, phone, bob)


asyncio.run(main())
