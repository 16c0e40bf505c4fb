"""Log in to the test server with slixmpp and print BOUND <jid> or FAILED.

Usage: slixmpp_login.py JID PASSWORD PORT [MECHANISM]
"""
import asyncio
import logging
import ssl
import sys

from slixmpp import ClientXMPP


class Client(ClientXMPP):
    def __init__(self, jid, password, mech):
        super().__init__(jid, password, sasl_mech=mech or None)
        self.result = "NONE"
        self.add_event_handler("session_bind", self.on_bound)
        self.add_event_handler("failed_all_auth", self.on_failed)

    def on_bound(self, jid):
        self.result = "BOUND %s" % jid
        self.disconnect()

    def on_failed(self, _):
        self.result = "FAILED"
        self.disconnect()


def main():
    jid, password, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    mech = sys.argv[4] if len(sys.argv) > 4 else ""
    logging.basicConfig(level=logging.ERROR)
    c = Client(jid, password, mech)
    c.ssl_context.check_hostname = False
    c.ssl_context.verify_mode = ssl.CERT_NONE
    c.connect(address=("127.0.0.1", port))
    # process(timeout=...) is broken in slixmpp 1.8.3 on Python 3.11.
    try:
        c.loop.run_until_complete(asyncio.wait_for(c.disconnected, 10))
    except asyncio.TimeoutError:
        c.result = "TIMEOUT " + c.result
    print(c.result)


if __name__ == "__main__":
    main()
