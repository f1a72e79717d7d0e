"""What each of the verifier's modes costs per request, side by side (examples/verifier/README.md).

    .venv/bin/python -m tests.examples.measure [--requests 2000] [--rounds 3]

Starts the task service as the integration tests do (SQLite, a temporary state directory,
one granian worker on a free port), registers a confidential client and a user, and sends
``--requests`` GET /whoami through Flask's test client to verifiers built in this process:

- JWKS only (the default);
- introspecting, one token: answers kept for a second, so about one round trip per second;
- introspecting, an answer asked for every request (cache off): what distinct tokens cost;
- JWKS only, with a DPoP-bound token and a fresh proof per request (made beforehand, not
  timed), beside the same verifier with an unbound Bearer token. These tokens are signed
  here with a key of our own, served by a fake JWKS: the service binds no token yet.

Each mode is run ``--rounds`` times, the modes interleaved; the median of each is printed,
per request and as a ratio to its baseline. One run on one machine: compare the ratios.
"""

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
from flask.testing import FlaskClient

from examples.verifier.app import Settings, create_app
from examples.verifier.introspection import Introspector
from examples.verifier.jwks import JwksCache
from soak.http import Http
from soak.server import HOST, Server, free_port, manage, server_env
from tests.helpers.dpop_proofs import ProofKey
from tests.helpers.jose import Signer

PASSWORD = "measure-correct-horse-battery"
LOCAL = "https://issuer.example"


def timed(send: Callable[[], int], requests: int) -> float:
    """Seconds per request of ``requests`` calls of ``send``, each of which must answer 200."""
    start = time.perf_counter()
    for _ in range(requests):
        status = send()
        if status != 200:
            raise RuntimeError(f"a request answered {status}")
    return (time.perf_counter() - start) / requests


def get(client: FlaskClient, headers: dict[str, str]) -> Callable[[], int]:
    return lambda: client.get("/whoami", headers=headers).status_code


def with_proofs(client: FlaskClient, token: str, key: ProofKey, requests: int) -> Callable[[], int]:
    proofs: Iterator[str] = iter([key.proof(access_token=token) for _ in range(requests)])
    return lambda: (
        client.get("/whoami", headers={"Authorization": f"DPoP {token}", "DPoP": next(proofs)}).status_code
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    requests, rounds = options.requests, options.rounds

    with tempfile.TemporaryDirectory() as tmp:
        env = server_env(
            Path(tmp) / "state",
            INTROSPECTION_RATE="100000/min",
            LOGIN_RATE="1000/min",
            SIGNUP_RATE="1000/hour",
        )
        manage(env, "migrate", "--no-input", "-v0")
        registered = json.loads(manage(env, "create_client", "measure", "--confidential"))
        with Server(env, port=free_port(), workers=1, log_path=Path(tmp) / "issuer.log") as server:
            issuer_url = f"http://{HOST}:{server.port}"
            http = Http(HOST, server.port, timeout=30)
            credentials = {"username": "measure", "password": PASSWORD}
            if http.post("/users/", credentials).status != 201:
                raise RuntimeError("could not sign up")
            access = http.post("/auth/token/", credentials).json()["access"]
            bearer = {"Authorization": f"Bearer {access}"}

            own = Settings(
                issuer_url=issuer_url,
                client_id=registered["client_id"],
                client_secret=registered["client_secret"],
            )
            every = Introspector(
                issuer_url=issuer_url,
                issuer=own.issuer,
                client_id=own.client_id,
                client_secret=own.client_secret,
                ttl=0,
            )
            signer, key = Signer.generate("local-1"), ProofKey.generate("ES256")
            keys = JwksCache(
                LOCAL + "/.well-known/jwks.json",
                transport=httpx.MockTransport(
                    lambda request: httpx.Response(200, json={"keys": [signer.jwk()]})
                ),
            )
            local = create_app(
                Settings(issuer_url=LOCAL, verifier_url="http://localhost"), keys=keys
            ).test_client()
            unbound, bound = signer.sign(), signer.sign(cnf=key.confirmation())

            jwks_only = create_app(Settings(issuer_url=issuer_url)).test_client()
            cached = create_app(own).test_client()
            asking = create_app(Settings(issuer_url=issuer_url), introspector=every).test_client()
            # Each makes a sender of ``count`` requests.
            modes: dict[str, Callable[[int], Callable[[], int]]] = {
                "JWKS only": lambda count: get(jwks_only, bearer),
                "introspecting, one token": lambda count: get(cached, bearer),
                "introspecting, every request asks": lambda count: get(asking, bearer),
                "JWKS only, Bearer (local key)": lambda count: get(
                    local, {"Authorization": f"Bearer {unbound}"}
                ),
                "JWKS only, DPoP proof (local key)": lambda count: with_proofs(local, bound, key, count),
            }
            baselines = {
                "introspecting, one token": "JWKS only",
                "introspecting, every request asks": "JWKS only",
                "JWKS only, DPoP proof (local key)": "JWKS only, Bearer (local key)",
            }
            for make in modes.values():
                timed(make(1), 1)  # keys fetched, endpoint discovered: not part of the price
            runs: dict[str, list[float]] = {name: [] for name in modes}
            for _ in range(rounds):
                for name, make in modes.items():
                    send = make(requests)  # proofs are made here, before the clock starts
                    runs[name].append(timed(send, requests))

    medians = {name: statistics.median(seconds) for name, seconds in runs.items()}
    print(f"{requests} requests per mode, median of {rounds} rounds, Flask's test client")
    print(f"{'mode':<38} {'µs/request':>11}  ratio")
    for name, seconds in medians.items():
        base = baselines.get(name)
        ratio = f"{seconds / medians[base]:.2f} x {base}" if base else "1"
        print(f"{name:<38} {seconds * 1e6:>11.0f}  {ratio}")


if __name__ == "__main__":
    main()
