"""What the slixmpp interop scripts (testdata/slixmpp_*.py) share: their
command line, the clients, logging in, running a step and printing what
was observed.

Every script runs as SCRIPT HOST PORT DOMAIN PASSWORD against the built
xmppd (cmd/xmppd runSlixmpp) and prints one JSON object: "<name>_login"
for each client (null once logged in, else what went wrong), then one key
per step. Python finds this module next to the script it runs.
"""
import asyncio
import json
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

HOST, PORT, DOMAIN, PASSWORD = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
TIMEOUT = 10  # one IQ, one login, one awaited stanza


def make(user, plugins, resource="bot"):
    """A client for user@DOMAIN/resource with plugins registered; it takes
    the server's self-signed certificate."""
    c = slixmpp.ClientXMPP(f"{user}@{DOMAIN}/{resource}", PASSWORD)
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    for p in plugins:
        c.register_plugin(p)
    return c


async def start(c, timeout=TIMEOUT):
    """Connects c with STARTTLS and waits for its session: None once it
    has one, else what went wrong ("auth failed", "timeout")."""
    loop = asyncio.get_running_loop()
    started, failed = loop.create_future(), loop.create_future()
    c.add_event_handler("session_start", lambda _: started.done() or started.set_result(True))
    c.add_event_handler("failed_all_auth", lambda _: failed.done() or failed.set_result("auth failed"))
    c.connect((HOST, PORT), force_starttls=True)
    done, _ = await asyncio.wait([started, failed], timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    if started in done:
        return None
    return failed.result() if failed in done else "timeout"


async def login(out, **logins):
    """Awaits each login (start(c) or the like) in turn and records its
    outcome under "<name>_login"; True when every client is in."""
    for name, pending in logins.items():
        out[name + "_login"] = await pending
    return not any(out[name + "_login"] for name in logins)


async def stop(c, timeout=TIMEOUT):
    """Disconnects c and waits until the server has closed the stream."""
    gone = asyncio.get_running_loop().create_future()
    c.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
    c.disconnect()
    await asyncio.wait_for(gone, timeout)


def describe(e):
    """One line for an exception; slixmpp's IQ errors name the condition."""
    if isinstance(e, (IqError, IqTimeout)):
        return f"{type(e).__name__}: {e.condition} {e.text or ''}".strip()
    try:
        return repr(e)
    except Exception:  # noqa: BLE001 - some slixmpp objects fail to print
        return type(e).__name__


async def step(out, name, coro, timeout=TIMEOUT, text_errors=False):
    """Runs one step, bounded by timeout (None: unbounded), and records
    what it returns under out[name]; a step that returns None keeps what
    it wrote to out[name] itself. A failed step records {"error": ...}
    beside what it had recorded, or with text_errors the string
    "error: ..." in its place, and the script goes on."""
    print(f"step {name}", file=sys.stderr, flush=True)
    try:
        res = await asyncio.wait_for(coro, timeout)
    except Exception as e:  # noqa: BLE001 - record what went wrong, go on
        if text_errors:
            out[name] = "error: " + describe(e)
        elif isinstance(out.get(name), dict):
            out[name]["error"] = describe(e)
        else:
            out[name] = {"error": describe(e)}
        return
    if res is not None:
        out[name] = res


def report(out):
    """Prints what the script observed, for the Go test."""
    print(json.dumps(out, default=str), flush=True)


async def finish(out, *clients, timeout=TIMEOUT):
    """Disconnects the clients, then reports."""
    for c in clients:
        try:
            await stop(c, timeout)
        except Exception:  # noqa: BLE001 - the results are what matters
            pass
    report(out)
