"""What a DPoP-bound token costs per request, against a Bearer token, side by side.

    python bench/dpop_cost.py [--requests 400] [--rounds 5] [--redis-url redis://127.0.0.1:6379/9]

One process, a fresh SQLite database under a temporary STATE_DIR, one user with one task.
Each round reads ``GET /tasks/{id}/`` ``--requests`` times through Django's test Client with
an unbound token as Bearer, and as many times with a DPoP-bound token and a fresh proof
each (RFC 9449 §7.1; the proofs are signed, ES256, before the clock starts). The rounds
alternate, and the medians are printed as microseconds per request and their ratio: what the
proof check (signature, claims, the replay store) adds to a read. Without ``--redis-url``
the replay store is the database (one INSERT a request); with it, one Redis SET NX.
"""

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()

    state = Path(tempfile.mkdtemp(prefix="dpop-cost-"))
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    if args.redis_url:
        os.environ["REDIS_URL"] = args.redis_url
    os.environ.update(
        STATE_DIR=str(state),
        DJANGO_SETTINGS_MODULE="config.settings",
        ALLOWED_HOSTS="testserver",
        LOG_LEVEL="WARNING",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec
    from django.test import Client
    from jwt.algorithms import ECAlgorithm

    from tasks.services import task_create
    from tokens.dpop import access_token_hash, jwk_thumbprint
    from tokens.revocation import memo
    from tokens.services import session_start
    from users.models import User

    memo.ttl = 24 * 3600  # as a server between two reloads of the session: counted here, never
    user = User.objects.create_user(username="bench", password=secrets.token_urlsafe(16))
    task = task_create(person_id=user.pk, title="bench task", due_to=datetime(2030, 1, 1, tzinfo=UTC))
    path = f"/tasks/{task.pk}/"
    url = f"http://testserver{path}"
    key = ec.generate_private_key(ec.SECP256R1())
    public_jwk: dict[str, Any] = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    bearer = session_start(user=user)["access"]
    bound = session_start(user=user, binding=jwk_thumbprint(public_jwk))["access"]
    ath = access_token_hash(bound)

    def proofs(count: int) -> list[str]:
        now = int(time.time())
        header = {"typ": "dpop+jwt", "jwk": public_jwk}
        return [
            jwt.encode(
                {"jti": secrets.token_urlsafe(16), "htm": "GET", "htu": url, "iat": now, "ath": ath},
                key,
                algorithm="ES256",
                headers=header,
            )
            for _ in range(count)
        ]

    bearer_client = Client(headers={"Authorization": f"Bearer {bearer}", "Accept": "application/json"})
    dpop_client = Client(headers={"Authorization": f"DPoP {bound}", "Accept": "application/json"})
    for client, proof in ((bearer_client, None), (dpop_client, proofs(1)[0])):
        extra = {"HTTP_DPOP": proof} if proof else {}
        assert client.get(path, **extra).status_code == 200, "warm-up failed"  # noqa: S101

    per_request: dict[str, list[float]] = {"bearer": [], "dpop": []}
    for _ in range(args.rounds):
        start = time.perf_counter()
        for _ in range(args.requests):
            bearer_client.get(path)
        per_request["bearer"].append((time.perf_counter() - start) / args.requests * 1e6)
        batch = proofs(args.requests)
        start = time.perf_counter()
        for proof in batch:
            if dpop_client.get(path, HTTP_DPOP=proof).status_code != 200:
                raise SystemExit("a DPoP request was refused")
        per_request["dpop"].append((time.perf_counter() - start) / args.requests * 1e6)
    medians = {name: statistics.median(values) for name, values in per_request.items()}
    print(
        json.dumps(
            {
                "replay_store": "redis" if args.redis_url else "database",
                "requests": args.requests,
                "rounds": args.rounds,
                "bearer_us": round(medians["bearer"], 1),
                "dpop_us": round(medians["dpop"], 1),
                "dpop_adds_us": round(medians["dpop"] - medians["bearer"], 1),
                "ratio": round(medians["dpop"] / medians["bearer"], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
