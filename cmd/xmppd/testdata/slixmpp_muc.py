"""Drives a running xmppd's MUC service with slixmpp's XEP-0045 plugin.

Usage: slixmpp_muc.py HOST PORT DOMAIN PASSWORD
alice, bob and carol (all with PASSWORD) log in; alice creates and
configures a room, bob joins, alice speaks, carol is refused by a
members-only room, alice kicks bob. Prints one JSON object with what each
step observed; the Go test asserts on it.
"""
import asyncio

from slixmpp.exceptions import PresenceError

from xmpptest_common import DOMAIN, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0004", "xep_0030", "xep_0045")
ROOM = f"interop@conference.{DOMAIN}"
PRIVATE = f"private@conference.{DOMAIN}"


def codes(pres):
    return sorted(int(c) for c in pres["muc"]["status_codes"])


async def configure(c, room, fields):
    form = c.plugin["xep_0004"].make_form(ftype="submit")
    form.add_field(var="FORM_TYPE", ftype="hidden", value="http://jabber.org/protocol/muc#roomconfig")
    for var, value in fields.items():
        form.add_field(var=var, value=value)
    await c.plugin["xep_0045"].set_room_config(room, form, timeout=TIMEOUT)


async def main():
    out = {}
    alice, bob, carol = make("alice", PLUGINS), make("bob", PLUGINS), make("carol", PLUGINS)
    if not await login(out, alice=start(alice), bob=start(bob), carol=start(carol)):
        report(out)
        return
    muc_a, muc_b, muc_c = alice.plugin["xep_0045"], bob.plugin["xep_0045"], carol.plugin["xep_0045"]

    async def create():
        pres, subject, occupants, history = await muc_a.join_muc_wait(ROOM, "alice", timeout=TIMEOUT)
        form = await muc_a.get_room_config(ROOM, timeout=TIMEOUT)
        await configure(alice, ROOM, {"muc#roomconfig_roomname": "Interop", "muc#roomconfig_persistentroom": "1"})
        return {"codes": codes(pres), "affiliation": pres["muc"]["affiliation"],
                "form_has_kind": "x-xmppd#kind" in form.get_fields()}

    async def bob_joins():
        pres, subject, occupants, history = await muc_b.join_muc_wait(ROOM, "bob", timeout=TIMEOUT)
        return {"codes": codes(pres), "role": pres["muc"]["role"], "occupants": sorted(str(p["from"].resource) for p in occupants)}

    async def fanout():
        got = asyncio.get_running_loop().create_future()

        def on_msg(msg):
            if msg["body"] and not got.done():
                got.set_result({"from": str(msg["from"]), "body": msg["body"], "stanza_id_by": msg.xml.find("{urn:xmpp:sid:0}stanza-id").get("by")})
        bob.add_event_handler("groupchat_message", on_msg)
        alice.send_message(mto=ROOM, mbody="hello room", mtype="groupchat")
        return await asyncio.wait_for(got, TIMEOUT)

    async def members_only():
        await muc_a.join_muc_wait(PRIVATE, "alice", timeout=TIMEOUT)
        await configure(alice, PRIVATE, {"muc#roomconfig_membersonly": "1"})
        try:
            await muc_c.join_muc_wait(PRIVATE, "carol", timeout=TIMEOUT)
            return "joined"
        except PresenceError as e:
            return e.condition

    async def kick():
        got = asyncio.get_running_loop().create_future()

        def on_presence(pres):
            if pres["type"] == "unavailable" and pres["from"].resource == "bob" and not got.done():
                got.set_result(codes(pres))
        bob.add_event_handler(f"muc::{ROOM}::presence", on_presence)
        await muc_a.set_role(ROOM, "bob", "none", reason="interop", timeout=TIMEOUT)
        return await asyncio.wait_for(got, TIMEOUT)

    # Each IQ and awaited stanza is bounded; a failed step records
    # "error: ..." (what the server answered).
    for name, coro in (("create", create()), ("bob_join", bob_joins()), ("fanout", fanout()),
                       ("members_only", members_only()), ("kick", kick())):
        await step(out, name, coro, timeout=None, text_errors=True)

    await finish(out, alice, bob, carol)


asyncio.run(main())
