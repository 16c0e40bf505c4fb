"""Drives a running xmppd with two slixmpp bots (Debian's python3-slixmpp).

Usage: slixmpp_core.py HOST PORT DOMAIN PASSWORD
alice and bob (both with PASSWORD) log in with STARTTLS and SCRAM, then
exercise chat, roster, ping, version, disco and vCard. Prints one JSON
object with what each step observed; the Go test asserts on it.
"""
import asyncio
import xml.etree.ElementTree as ET

from xmpptest_common import DOMAIN, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0030", "xep_0054", "xep_0092", "xep_0199")


async def main():
    out = {}
    alice, bob = make("alice", PLUGINS), make("bob", PLUGINS)
    ok = await login(out, alice=start(alice), bob=start(bob))
    out["alice_jid"] = str(alice.boundjid)
    out["mechanism"] = alice.plugin["feature_mechanisms"].mech.name if alice.plugin["feature_mechanisms"].mech else None
    if not ok:
        report(out)
        return

    try:
        await alice.get_roster(timeout=TIMEOUT)
        out["roster"] = "ok"
    except Exception as e:  # noqa: BLE001 - record what the server answered
        out["roster"] = repr(e)
    alice.send_presence()
    bob.send_presence()
    await asyncio.sleep(0.3)

    # bob echoes what alice says.
    def echo(msg):
        if msg["type"] in ("chat", "normal") and msg["body"]:
            msg.reply("echo: " + msg["body"]).send()
    bob.add_event_handler("message", echo)
    reply = asyncio.get_running_loop().create_future()
    alice.add_event_handler("message", lambda m: reply.done() or reply.set_result((str(m["from"]), m["body"])))
    alice.send_message(mto=f"bob@{DOMAIN}", mbody="hello from slixmpp", mtype="chat")
    try:
        frm, body = await asyncio.wait_for(reply, TIMEOUT)
        out["echo_from"], out["echo_body"] = frm, body
    except asyncio.TimeoutError:
        out["echo_body"] = None

    async def ping():
        await alice.plugin["xep_0199"].ping(jid=DOMAIN, timeout=TIMEOUT)
        return "ok"

    async def version():
        v = await alice.plugin["xep_0092"].get_version(DOMAIN, timeout=TIMEOUT)
        return v["software_version"]["name"]

    async def disco():
        info = await alice.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        return sorted(info["disco_info"]["features"])

    async def vcard():
        vc = alice.plugin["xep_0054"].make_vcard()
        vc["FN"] = "Alice Example"
        vc["N"]["GIVEN"] = "Alice"
        vc["N"]["FAMILY"] = "Example"
        vc["EMAIL"]["USERID"] = "alice@example.com"
        vc["TEL"]["NUMBER"] = "+4930123456"
        # slixmpp models TZ as a UTC offset object; write the text itself.
        tz = ET.SubElement(vc.xml, "{vcard-temp}TZ")
        tz.text = "+01:00"
        await alice.plugin["xep_0054"].publish_vcard(vc, timeout=TIMEOUT)
        got = await bob.plugin["xep_0054"].get_vcard(f"alice@{DOMAIN}", cached=False, timeout=TIMEOUT)
        v = got["vcard_temp"]
        return {"given": v["N"]["GIVEN"], "family": v["N"]["FAMILY"],
                "tel": v["TEL"]["NUMBER"], "tz": v.xml.find("{vcard-temp}TZ").text}

    # Each IQ is bounded; a failed step records "error: ...".
    for name, coro in (("ping", ping()), ("version", version()), ("disco", disco()), ("vcard", vcard())):
        await step(out, name, coro, timeout=None, text_errors=True)

    await finish(out, alice, bob)


asyncio.run(main())
