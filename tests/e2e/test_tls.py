"""``mqtts://`` end to end: a Mosquitto TLS listener started by the test, with a CA, server and
client certificates the test makes with openssl; the service runs a round through it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from bridge.mqtt.broker import find_mosquitto
from tests.conftest import free_port, service_settings
from tests.e2e.harness import running

WAIT_S = 10.0
OPENSSL = shutil.which("openssl")

pytestmark = pytest.mark.skipif(
    find_mosquitto() is None or OPENSSL is None, reason="needs mosquitto and openssl"
)


def _make_certificates(where: Path) -> None:
    """A CA, and a server (127.0.0.1) and a client certificate it signed, EC P-256, one day."""

    def run(*args: str) -> None:
        subprocess.run([str(OPENSSL), *args], cwd=where, check=True, capture_output=True)

    key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run(
        "req",
        "-x509",
        *key,
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "1",
        "-subj",
        "/CN=arsbridge test CA",
    )
    for name, ext in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        run("req", *key, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={name}")
        (where / f"{name}.ext").write_text(ext + "\n")
        run(
            "x509",
            "-req",
            "-in",
            f"{name}.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            f"{name}.crt",
            "-days",
            "1",
            "-extfile",
            f"{name}.ext",
        )


@contextlib.asynccontextmanager
async def tls_mosquitto(where: Path) -> AsyncIterator[int]:
    port = free_port()
    conf = where / "mosquitto.conf"
    user = "user root\n" if os.geteuid() == 0 else ""
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n{user}"
        f"cafile {where / 'ca.crt'}\ncertfile {where / 'server.crt'}\n"
        f"keyfile {where / 'server.key'}\nrequire_certificate true\n"
    )
    mosquitto = find_mosquitto()
    assert mosquitto is not None
    proc = await asyncio.create_subprocess_exec(
        mosquitto,
        "-c",
        str(conf),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with asyncio.timeout(WAIT_S):
            while True:
                try:
                    _, w = await asyncio.open_connection("127.0.0.1", port)
                except OSError:
                    await asyncio.sleep(0.02)
                    continue
                w.close()
                break
        yield port
    finally:
        proc.terminate()
        await proc.wait()


async def test_a_round_over_mqtts_with_client_certificates(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    await asyncio.to_thread(_make_certificates, certs)
    async with tls_mosquitto(certs) as port:
        # Without a client certificate the broker does not let a client in.
        plain = aiomqtt.TLSParameters(ca_certs=str(certs / "ca.crt"), cert_reqs=ssl.CERT_REQUIRED)
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client(
                "127.0.0.1", port, identifier="no-cert", tls_params=plain, timeout=2
            ):
                pass
        settings = service_settings(tmp_path, "embedded")
        mqtt = settings.mqtt.model_copy(
            update={
                "url": f"mqtts://127.0.0.1:{port}",
                "tls_ca": certs / "ca.crt",
                "tls_cert": certs / "client.crt",
                "tls_key": certs / "client.key",
            }
        )
        settings = settings.model_copy(update={"mqtt": mqtt})
        async with running(settings) as svc:
            assert svc.service.broker is None
            r = await svc.http.post("/api/v1/rounds/q1/open", json={"title": "Over TLS"})
            assert r.status_code == 200
            await svc.until(
                lambda: svc.service.mirror.latest.get("round/q1/tally") is not None,
                "the tally came back through the TLS broker",
            )
            health = (await svc.http.get("/api/v1/health")).json()
            # A client with the certificates reads the retained state over TLS.
            tls = aiomqtt.TLSParameters(
                ca_certs=str(certs / "ca.crt"),
                certfile=str(certs / "client.crt"),
                keyfile=str(certs / "client.key"),
            )
            async with aiomqtt.Client("127.0.0.1", port, identifier="display", tls_params=tls) as c:
                await c.subscribe(f"{settings.mqtt.base}/round/q1/state", qos=1)
                async with asyncio.timeout(WAIT_S):
                    message = await anext(aiter(c.messages))
    assert health["mqtt"]["connected"] is True
    assert message.retain
    assert b'"status":"open"' in bytes(message.payload)  # type: ignore[arg-type]
