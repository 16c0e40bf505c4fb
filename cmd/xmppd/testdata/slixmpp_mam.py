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

from slixmpp import JID

from xmpptest_common import DOMAIN, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0030", "xep_0059", "xep_0297", "xep_0313", "xep_0359")


def body_of(result_msg):
    return result_msg["mam_result"]["forwarded"]["stanza"]["body"]


async def main():
    out = {}
    alice, bob = make("alice", PLUGINS), make("bob", PLUGINS)
    if not await login(out, alice=start(alice), bob=start(bob)):
        report(out)
        return
    me = JID(f"alice@{DOMAIN}")

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

    for name, coro in (("features", features()), ("converse", converse()), ("all", retrieve_all()),
                       ("forward", page_forward()), ("backward", page_backward()), ("with", with_bob()),
                       ("metadata", metadata()), ("bob", bob_archive())):
        await step(out, name, coro)

    await finish(out, alice, bob)


asyncio.run(main())
