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
import json
import ssl
import sys

import slixmpp

HOST, PORT, DOMAIN, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
TIMEOUT = 10


def make(user, resource):
    c = slixmpp.ClientXMPP(f"{user}@{DOMAIN}/{resource}", PASSWORD)
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    for p in ("xep_0030", "xep_0297", "xep_0280"):
        c.register_plugin(p)
    return c


async def start(c):
    loop = asyncio.get_running_loop()
    started, failed = loop.create_future(), loop.create_future()
    c.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    c.add_event_handler("failed_all_auth", lambda _: failed.done() or failed.set_result("auth failed"))
    c.connect((HOST, PORT), force_starttls=True)
    done, _ = await asyncio.wait([started, failed], timeout=TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    if started in done:
        return None
    return failed.result() if failed in done else "timeout"


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
    laptop, phone, bob = make("alice", "laptop"), make("alice", "phone"), make("bob", "bot")
    for name, c in (("laptop", laptop), ("phone", phone), ("bob", bob)):
        out[name + "_login"] = await start(c)
    if any(out[k] for k in ("laptop_login", "phone_login", "bob_login")):
        print(json.dumps(out))
        return

    sent = queue_events(phone, "carbon_sent")
    received = queue_events(phone, "carbon_received")
    laptop_msgs, bob_msgs = asyncio.Queue(), asyncio.Queue()
    laptop.add_event_handler("message", lambda m: m["body"] and laptop_msgs.put_nowait(m["body"]))
    bob.add_event_handler("message", lambda m: m["body"] and bob_msgs.put_nowait(m["body"]))

    async def step(name, coro):
        try:
            out[name] = await asyncio.wait_for(coro, TIMEOUT)
        except Exception as e:  # noqa: BLE001 - record what went wrong
            out[name] = {"error": repr(e)}

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

    await step("feature", feature())
    await step("enable", enable())
    await step("sent", sent_copy())
    await step("received", received_copy())
    await step("private", private())

    for c in (laptop, phone, bob):
        c.disconnect()
    await asyncio.sleep(0.2)
    print(json.dumps(out))


asyncio.run(main())
