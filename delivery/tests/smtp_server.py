"""A real SMTP server for delivery/tests/smtp.rs (aiosmtpd): usage `smtp_server.py PORT DIR`.

Refuses recipients at refused.example (550) and busy.example (451); writes each accepted
message to DIR/<n>.eml, as received, and answers `queued as Q<n>`. Prints `ready` once it
listens, then serves until killed.
"""

import pathlib
import sys
import threading

from aiosmtpd.controller import Controller


class Handler:
    def __init__(self, out):
        self.out = pathlib.Path(out)
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        domain = address.rpartition("@")[2]
        if domain == "refused.example":
            return "550 5.1.1 No such user here"
        if domain == "busy.example":
            return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        (self.out / f"{self.count}.eml").write_bytes(envelope.original_content)
        return f"250 2.0.0 Ok: queued as Q{self.count}"


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Handler(out), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
