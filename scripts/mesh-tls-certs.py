"""Writes a throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate
into DIR, for the MESH mutual-TLS test (scripts/test.sh). Uses `cryptography`, which mesh-sandbox
already installs. Nothing here is valid anywhere but the test run."""
import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def key():
    return ec.generate_private_key(ec.SECP256R1())


def write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def pem_key(k) -> bytes:
    return k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def cert(subject: str, public_key, issuer_name, issuer_key, *, ca=False, server=False):
    now = datetime.datetime.now(datetime.timezone.utc)
    # Valid for years either side of today, so the suite also passes with the test clock moved
    # (faketime) a year forward or some days back: the certificates are not what those runs test.
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=3650))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    elif not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    ca_key = key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Pathwatch test MESH CA")])
    ca_cert = cert("Pathwatch test MESH CA", ca_key.public_key(), ca_name, ca_key, ca=True)
    write(out / "ca.pem", ca_cert.public_bytes(serialization.Encoding.PEM))
    for name, server in (("server", True), ("client", False)):
        k = key()
        c = cert("X26ABC1" if not server else "localhost", k.public_key(), ca_name, ca_key, server=server)
        write(out / f"{name}.pem", c.public_bytes(serialization.Encoding.PEM))
        write(out / f"{name}.key", pem_key(k))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
