"""Drives a running xmppd's XEP-0198 Stream Management with slixmpp's
xep_0198 plugin (Debian's python3-slixmpp), resumption included.

Usage: slixmpp_sm.py HOST PORT DOMAIN PASSWORD
bob logs in with stream management enabled (resumable); alice logs in.
Steps: alice sends bob 1..5 and he gets them; bob's TCP connection is cut
under slixmpp (no </stream:stream>); alice sends 6..10 while he is away;
bob reconnects and the plugin resumes the stream; he gets 6..10. Prints
one JSON object with what each step observed; the Go test asserts on it.
"""
import asyncio

from xmpptest_common import DOMAIN, HOST, PORT, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0030",)


async def main():
    out = {}
    loop = asyncio.get_running_loop()
    bob = make("bob", PLUGINS + ("xep_0198",))
    alice = make("alice", PLUGINS)
    events = {"session_start": 0, "session_bind": 0, "sm_enabled": 0, "session_resumed": 0, "sm_failed": 0}
    waiters = {name: [] for name in events}

    def count(name):
        def handler(_):
            events[name] += 1
            for f in waiters[name]:
                f.done() or f.set_result(True)
        bob.add_event_handler(name, handler)

    def next_event(name):
        f = loop.create_future()
        waiters[name].append(f)
        return f

    for name in events:
        count(name)
    received, bob_msgs = [], asyncio.Queue()

    def on_message(m):
        if m["body"]:
            received.append(m["body"])
            bob_msgs.put_nowait(m["body"])
    bob.add_event_handler("message", on_message)

    enabled = next_event("sm_enabled")
    if not await login(out, bob=start(bob), alice=start(alice)):
        report(out)
        return

    async def enable():
        await enabled
        return {"sm_id": bool(bob.plugin["xep_0198"].sm_id)}

    def send(first, last):
        for i in range(first, last + 1):
            alice.send_message(mto=str(bob.boundjid), mbody=str(i), mtype="chat")

    async def before():
        send(1, 5)
        return [await bob_msgs.get() for _ in range(5)]

    async def cut():
        gone = loop.create_future()
        bob.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True), disposable=True)
        # Abruptly, as a dropped network would: no </stream:stream>.
        bob.transport.abort()
        await gone
        send(6, 10)
        # A round trip: the server has routed alice's messages to bob's
        # detached session.
        await alice.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        return {}

    async def resume():
        resumed, failed = next_event("session_resumed"), next_event("sm_failed")
        bob.connect((HOST, PORT), force_starttls=True)
        done, _ = await asyncio.wait([resumed, failed], return_when=asyncio.FIRST_COMPLETED)
        return {"resumed": resumed in done}

    async def after():
        got = [await bob_msgs.get() for _ in range(5)]
        # A round trip on the resumed stream: anything redelivered twice
        # would have arrived before its answer.
        await bob.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        return got

    for name, coro in (("enable", enable()), ("before", before()), ("cut", cut()),
                       ("resume", resume()), ("after", after())):
        await step(out, name, coro)

    out["received"] = list(received)
    out["events"] = dict(events)
    await finish(out, alice, bob)


asyncio.run(main())
