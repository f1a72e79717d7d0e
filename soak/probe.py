"""A probe that asks every 0.2 s whether the service is whole again: /readyz (database and
cache) and an authenticated list (a token check and a query), on new connections so that
the answers come from any worker."""

import contextlib
import threading
import time
from dataclasses import dataclass

from soak.http import Http, NoAnswer
from soak.workload import Clock


@dataclass
class Sample:
    t: float
    ready: int | None  # /readyz status, None for no answer
    api: int | None  # authenticated GET /tasks/ status
    api_json: bool


class Probe(threading.Thread):
    def __init__(self, port: int, clock: Clock, stop: threading.Event, *, username: str, password: str):
        super().__init__(name="probe", daemon=True)
        self.port, self.clock, self.stop_event = port, clock, stop
        self.username, self.password = username, password
        self.samples: list[Sample] = []
        self.token: str | None = None
        self.lock = threading.Lock()

    def _login(self, http: Http) -> None:
        try:
            reply = http.post("/auth/token/", {"username": self.username, "password": self.password})
        except NoAnswer:
            return
        if reply.status == 200:
            self.token = reply.json()["access"]

    def run(self) -> None:
        while not self.stop_event.is_set():
            http = Http("127.0.0.1", self.port, timeout=5, keep_alive=False)
            t = self.clock.now()
            ready = api = None
            api_json = False
            with contextlib.suppress(NoAnswer):
                ready = http.get("/readyz").status
            if self.token is None:
                self._login(http)
            if self.token is not None:
                try:
                    reply = http.get("/tasks/?page_size=1", token=self.token)
                    api, api_json = reply.status, reply.ok or reply.is_json
                    if api == 401:
                        self.token = None
                except NoAnswer:
                    pass
            with self.lock:
                self.samples.append(Sample(t, ready, api, api_json))
            time.sleep(0.2)

    def healthy_since(self, after: float, timeout: float, streak: int = 5) -> float | None:
        """The time of the first of ``streak`` healthy samples in a row taken after ``after``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                run: list[Sample] = []
                for sample in self.samples:
                    if sample.t < after:
                        continue
                    if sample.ready == 200 and sample.api == 200:
                        run.append(sample)
                        if len(run) >= streak:
                            return run[0].t
                    else:
                        run = []
            time.sleep(0.1)
        return None
