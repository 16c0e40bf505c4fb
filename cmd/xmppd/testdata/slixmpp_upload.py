"""Uploads a file to a running xmppd with slixmpp's XEP-0363 plugin
(Debian's python3-slixmpp) and shares it with another client.

Usage: slixmpp_upload.py HOST PORT DOMAIN PASSWORD
Steps: alice finds the upload service through disco (items, then info
with the max-file-size form) and uploads a PNG
made here (upload_file: slot request, then the HTTP PUT); she sends bob
its URL as the body and as XEP-0066 OOB; bob reports the URL he got and
the XEP-0447/XEP-0446 metadata the server added. Prints one JSON object;
the Go test downloads the URL and the thumbnail and compares the bytes.
"""
import asyncio
import base64
import io
import struct
import zlib

from xmpptest_common import DOMAIN, TIMEOUT, finish, login, make, report, start, step

PLUGINS = ("xep_0030", "xep_0066", "xep_0128", "xep_0363")
SFS = "{urn:xmpp:sfs:0}"
META = "{urn:xmpp:file:metadata:0}"


def png(w, h):
    """An RGB PNG of w x h pixels with a gradient."""
    rows = b"".join(b"\x00" + bytes((x * 5 + y * 3) % 256 for x in range(w * 3)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


async def main():
    out = {}
    alice, bob = make("alice", PLUGINS), make("bob", PLUGINS)
    if not await login(out, alice=start(alice), bob=start(bob)):
        report(out)
        return
    data = png(320, 200)
    up = alice.plugin["xep_0363"]

    async def discover():
        # What upload_file's find_upload_service does; its own version
        # hands asyncio.wait coroutines, which Python 3.11 refuses.
        items = await alice.plugin["xep_0030"].get_items(jid=DOMAIN, timeout=TIMEOUT)
        for item in items["disco_items"]["items"]:
            info = await alice.plugin["xep_0030"].get_info(jid=item[0], timeout=TIMEOUT)
            if "urn:xmpp:http:upload:0" in info["disco_info"]["features"]:
                up.upload_service = info["from"]
                for form in info["disco_info"].iterables:
                    if form["values"].get("FORM_TYPE") == ["urn:xmpp:http:upload:0"]:
                        up.max_file_size = int(form["values"]["max-file-size"])
                return {"service": str(up.upload_service), "max_file_size": up.max_file_size}
        raise RuntimeError("no upload service in disco#items")

    async def upload():
        url = await up.upload_file(
            "cat.png", input_file=io.BytesIO(data), content_type="image/png", timeout=TIMEOUT)
        return {"url": url, "content": base64.b64encode(data).decode()}

    async def share():
        bob.send_presence()
        await bob.plugin["xep_0030"].get_info(jid=DOMAIN, timeout=TIMEOUT)
        got = asyncio.Queue()
        bob.add_event_handler("message", lambda m: m["body"] and got.put_nowait(m))
        url = out["upload"]["url"]
        m = alice.make_message(mto=f"bob@{DOMAIN}", mbody=url, mtype="chat")
        m["oob"]["url"] = url
        m.send()
        msg = await got.get()
        res = {"body": msg["body"], "oob": msg["oob"]["url"]}
        f = msg.xml.find(f"{SFS}file-sharing/{META}file")
        if f is not None:
            res.update({k: f.findtext(META + k) for k in ("media-type", "name", "size", "width", "height")})
            th = f.find("{urn:xmpp:thumbs:1}thumbnail")
            res["thumbnail"] = th.get("uri") if th is not None else None
        return res

    await step(out, "discover", discover())
    await step(out, "upload", upload())
    if "url" in out["upload"]:
        await step(out, "share", share())
    await finish(out, alice, bob)


asyncio.run(main())
