"""The code an authenticator app shows now, for the demo's nurse (who has no phone at hand):

python -m testbed.totp <base32 secret>
"""

from __future__ import annotations

import base64
import sys

from django_otp.oath import totp


def code(secret: str) -> str:
    return f"{totp(base64.b32decode(secret)):06d}"


if __name__ == "__main__":
    try:
        print(code(sys.argv[1]))
    except (IndexError, ValueError):
        sys.exit("usage: python -m testbed.totp <the base32 secret centre add-user printed>")
