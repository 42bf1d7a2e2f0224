"""CA bundles and client certificates, against the emulator served over real TLS on loopback."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from chariot_apply.backends.rest.client import AsyncChariotClient
from chariot_apply.backends.rest.settings import ChariotSettings, SettingsError
from chariot_apply.chariot.errors import TransportError
from chariot_apply.emulator.server import BackgroundServer

pytestmark = [pytest.mark.anyio, pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")]


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "1",
             "-subj", "/CN=chariot-apply test CA", cwd=d)
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", "1", "-extfile", "san.ext", cwd=d)
    return d


@pytest.fixture
def tls_server(app, pki: Path):
    with BackgroundServer(app, ssl_certfile=str(pki / "server.pem"), ssl_keyfile=str(pki / "server.key"),
                          ssl_ca_certs=str(pki / "ca.pem"), ssl_cert_reqs=ssl.CERT_REQUIRED) as running:
        yield running


async def test_ca_bundle_and_client_certificate(tls_server: BackgroundServer, pki: Path) -> None:
    settings = ChariotSettings(url=tls_server.url, ca_bundle=pki / "ca.pem", client_cert=pki / "client.pem",
                               client_key=pki / "client.key")
    async with AsyncChariotClient.from_settings(settings) as client:
        assert [p.name for p in await client.get_projects()] == ["default", "nlp", "vision"]


async def test_without_the_ca_bundle_the_server_is_not_trusted(tls_server: BackgroundServer, pki: Path) -> None:
    settings = ChariotSettings(url=tls_server.url, client_cert=pki / "client.pem", client_key=pki / "client.key")
    async with AsyncChariotClient.from_settings(settings) as client:
        with pytest.raises(TransportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            await client.get_projects()


async def test_without_a_client_certificate_mutual_tls_refuses(tls_server: BackgroundServer, pki: Path) -> None:
    settings = ChariotSettings(url=tls_server.url, ca_bundle=pki / "ca.pem")
    async with AsyncChariotClient.from_settings(settings) as client:
        with pytest.raises(TransportError):
            await client.get_projects()


async def test_ssl_cert_file_is_honoured_as_httpx_does(tls_server: BackgroundServer, pki: Path) -> None:
    env = {"CHARIOT_URL": tls_server.url, "SSL_CERT_FILE": str(pki / "ca.pem"),
           "CHARIOT_CLIENT_CERT": str(pki / "client.pem"), "CHARIOT_CLIENT_KEY": str(pki / "client.key")}
    settings = ChariotSettings.from_env(env)
    assert settings is not None
    async with AsyncChariotClient.from_settings(settings) as client:
        assert await client.get_projects()


async def test_ssl_cert_dir_is_honoured(tls_server: BackgroundServer, pki: Path, tmp_path: Path) -> None:
    hashed = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(pki / "ca.pem")], check=True,
                            capture_output=True, text=True).stdout.strip()
    shutil.copy(pki / "ca.pem", tmp_path / f"{hashed}.0")
    env = {"CHARIOT_URL": tls_server.url, "SSL_CERT_DIR": str(tmp_path),
           "CHARIOT_CLIENT_CERT": str(pki / "client.pem"), "CHARIOT_CLIENT_KEY": str(pki / "client.key")}
    settings = ChariotSettings.from_env(env)
    assert settings is not None
    async with AsyncChariotClient.from_settings(settings) as client:
        assert await client.get_projects()


@pytest.mark.parametrize("variable", ["CHARIOT_CA_BUNDLE", "SSL_CERT_FILE", "CHARIOT_CLIENT_CERT"])
def test_a_missing_certificate_file_is_named_with_its_variable(variable: str, tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    env = {"CHARIOT_URL": "https://chariot.example", variable: str(missing)}
    with pytest.raises(SettingsError) as refused:
        ChariotSettings.from_env(env)
    assert variable in refused.value.message and str(missing) in refused.value.message


def test_credentials_in_the_url_are_refused_without_showing_them() -> None:
    with pytest.raises(SettingsError) as refused:
        ChariotSettings.from_env({"CHARIOT_URL": "https://me:hunter2@chariot.example", "CHARIOT_TOKEN": "t"})
    assert "CHARIOT_TOKEN" in refused.value.message and "hunter2" not in refused.value.message
