"""Drives a running xmppd's XEP-0313 Message Archive Management with
slixmpp's xep_0313 plugin (Debian's python3-slixmpp).

Usage: slixmpp_mam.py HOST PORT DOMAIN PASSWORD
alice sends bob five chat messages, bob answers once. Steps: the account
features; bob's stanza-id of the answer (XEP-0359); alice's whole archive
(retrieve); paging forwards and backwards two at a time (iterate, RSM
after/before); a 'with' filter; the archive metadata; bob's archive with
the id of what alice received. Prints one JSON object with what each step
observed; the Go test asserts on it.
"""
import asyncio
import json
import ssl
import sys

import slixmpp
from slixmpp import JID

HOST, PORT, DOMAIN, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
TIMEOUT = 10


def make(user):
    c = slixmpp.ClientXMPP(f"{user}@{DOMAIN}/bot", PASSWORD)
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    for p in ("xep_0030", "xep_0059", "xep_0297", "xep_0313", "xep_0359"):
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


def body_of(result_msg):
    return result_msg["mam_result"]["forwarded"]["stanza"]["body"]


async def main():
    out = {}
    alice, bob = make("alice"), make("bob")
    out["alice_login"] = await start(alice)
    out["bob_login"] = await start(bob)
    if out["alice_login"] or out["bob_login"]:
        print(json.dumps(out))
        return
    me = JID(f"alice@{DOMAIN}")

    async def step(name, coro):
        try:
            out[name] = await asyncio.wait_for(coro, TIMEOUT)
        except Exception as e:  # noqa: BLE001 - record what went wrong
            out[name] = {"error": repr(e)}

    async def features():
        info = await alice.plugin["xep_0030"].get_info(jid=me, timeout=TIMEOUT)
        return {"features": [f for f in info["disco_info"]["features"] if f.startswith("urn:xmpp:mam")]}

    async def converse():
        for c in (alice, bob):
            c.send_presence()
        for c in (alice, bob):
            await c.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        bob_got, alice_got = asyncio.Queue(), asyncio.Queue()
        bob.add_event_handler("message", lambda m: m["body"] and bob_got.put_nowait(m))
        alice.add_event_handler("message", lambda m: m["body"] and alice_got.put_nowait(m))
        for i in range(5):
            alice.send_message(mto=f"bob@{DOMAIN}", mbody=f"m{i}", mtype="chat")
        for _ in range(5):
            await bob_got.get()
        bob.send_message(mto=f"alice@{DOMAIN}", mbody="answer", mtype="chat")
        got = await alice_got.get()
        return {"stanza_id": got["stanza_id"]["id"], "stanza_id_by": str(got["stanza_id"]["by"])}

    async def retrieve_all():
        iq = await alice.plugin["xep_0313"].retrieve(jid=me, timeout=TIMEOUT)
        results = iq["mam"]["results"]
        return {"bodies": [body_of(m) for m in results], "ids": [m["mam_result"]["id"] for m in results]}

    async def page_forward():
        return {"bodies": [body_of(m) async for m in alice.plugin["xep_0313"].iterate(jid=me, rsm={"max": 2})]}

    async def page_backward():
        return {"bodies": [body_of(m) async for m in alice.plugin["xep_0313"].iterate(jid=me, reverse=True, rsm={"max": 2})]}

    async def with_bob():
        iq = await alice.plugin["xep_0313"].retrieve(jid=me, with_jid=JID(f"bob@{DOMAIN}/bot"), timeout=TIMEOUT)
        return {"bodies": [body_of(m) for m in iq["mam"]["results"]]}

    async def metadata():
        iq = await alice.plugin["xep_0313"].get_archive_metadata(jid=me, timeout=TIMEOUT)
        md = iq["mam_metadata"]
        return {"start": md["start"]["id"], "end": md["end"]["id"]}

    async def bob_archive():
        iq = await bob.plugin["xep_0313"].retrieve(jid=JID(f"bob@{DOMAIN}"), timeout=TIMEOUT)
        return {"bodies": [body_of(m) for m in iq["mam"]["results"]]}

    await step("features", features())
    await step("converse", converse())
    await step("all", retrieve_all())
    await step("forward", page_forward())
    await step("backward", page_backward())
    await step("with", with_bob())
    await step("metadata", metadata())
    await step("bob", bob_archive())

    for c in (alice, bob):
        c.disconnect()
    await asyncio.sleep(0.2)
    print(json.dumps(out, default=str))


asyncio.run(main())
