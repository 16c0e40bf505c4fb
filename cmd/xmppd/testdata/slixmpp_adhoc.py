"""Drives a running xmppd's XEP-0050 Ad-Hoc Commands (text shortcuts)
with slixmpp's xep_0050 plugin (Debian's python3-slixmpp).

Usage: slixmpp_adhoc.py HOST PORT DOMAIN PASSWORD
alice logs in. Steps: the commands feature on the server's disco#info;
the command list (disco#items at the commands node); adding a shortcut
through the form with the plugin's session workflow (start_command, then
complete_command with the filled form); a bad name, which shows the form
again with an error note, then cancel; listing the shortcuts back as the
result form's items. Prints one JSON object with what each step observed;
the Go test asserts on it.
"""
import asyncio

from xmpptest_common import DOMAIN, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0030", "xep_0004", "xep_0050")
NS = "http://jabber.org/protocol/commands"


async def main():
    out = {}
    alice = make("alice", PLUGINS)
    if not await login(out, alice=start(alice)):
        report(out)
        return
    adhoc = alice.plugin["xep_0050"]

    async def feature():
        info = await alice.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        return {"has_feature": NS in info["disco_info"]["features"]}

    async def commands():
        iq = await adhoc.get_commands(jid=DOMAIN, timeout=TIMEOUT)
        return {"items": sorted([str(j), n, name] for j, n, name in iq["disco_items"]["items"])}

    def run_form(node, fields, then):
        """Starts node, submits fields on the first form, and hands the
        second answer to then(iq, session, result); the result future
        gets what then decides."""
        loop = asyncio.get_running_loop()
        result = loop.create_future()
        seen = {}

        def on_error(iq, session):
            if not result.done():
                result.set_result({"error": f"{iq['error']['condition']} {iq['error']['text']}"})

        def second(iq, session):
            then(iq, session, result, seen)

        def first(iq, session):
            cmd = iq["command"]
            seen["first_status"] = cmd["status"]
            seen["fields"] = sorted(cmd["form"].get_fields().keys())
            seen["actions"] = sorted(cmd["actions"])
            form = alice.plugin["xep_0004"].make_form(ftype="submit")
            for var, value in fields.items():
                form.add_field(var=var, value=value)
            session["payload"] = form
            session["next"] = second
            adhoc.complete_command(session)

        adhoc.start_command(DOMAIN, node, {"next": first, "error": on_error})
        return result

    async def add():
        def then(iq, session, result, seen):
            cmd = iq["command"]
            seen.update(status=cmd["status"], notes=[list(n) for n in cmd["notes"]])
            result.set_result(seen)
        return await run_form("shortcuts/set", {"name": "/Meet", "text": "https://meet.example.org/team"}, then)

    async def bad_name():
        def then(iq, session, result, seen):
            cmd = iq["command"]
            seen.update(status=cmd["status"], notes=[list(n) for n in cmd["notes"]],
                        form_again=bool(cmd["form"].get_fields()))
            session["payload"] = None
            session["next"] = lambda iq, s: result.set_result(dict(seen, cancel=iq["command"]["status"]))
            adhoc.cancel_command(session)
        return await run_form("shortcuts/set", {"name": "no spaces please", "text": "x"}, then)

    async def listed():
        iq = await adhoc.send_command(DOMAIN, "shortcuts/list", timeout=TIMEOUT)
        cmd = iq["command"]
        return {"status": cmd["status"], "items": cmd["form"]["items"], "notes": [list(n) for n in cmd["notes"]]}

    for name, coro in (("feature", feature()), ("commands", commands()), ("add", add()),
                       ("bad_name", bad_name()), ("list", listed())):
        await step(out, name, coro)

    await finish(out, alice)


asyncio.run(main())
