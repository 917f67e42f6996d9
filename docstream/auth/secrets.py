"""Secrets of a site, kept out of the document tables.

- passwords: argon2 hashes (slow on purpose: people choose them);
- API secrets: HMAC-SHA256 under the site key (they are long random values, so a keyed fast
  hash is safe and keeps every API request cheap), compared in constant time;
- secrets the site must send onward (Event Producer / Event Consumer keys): encrypted with
  Fernet under the site key.

The site key lives in a file in the site folder (``site_key``, mode 0600), never in the
database: a copy of the database alone reveals nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

from docstream.errors import AuthenticationError
from docstream.storage import Database

AUTH_DDL = (
    'CREATE TABLE IF NOT EXISTS "__auth" (doctype TEXT NOT NULL, name TEXT NOT NULL, '
    "fieldname TEXT NOT NULL, kind TEXT NOT NULL, value TEXT NOT NULL, "
    "PRIMARY KEY (doctype, name, fieldname))"
)
_HASHER = PasswordHasher()


def load_or_create_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
    return key


class Secrets:
    def __init__(self, db: Database, key: bytes) -> None:
        self.db = db
        self._fernet = Fernet(key)
        self._hmac_key = hashlib.sha256(b"docstream api secret\0" + key).digest()

    def store(self, doctype: str, name: str, fieldname: str, value: str) -> None:
        if (doctype, fieldname) == ("User", "new_password"):
            self._put(doctype, name, "password", "argon2", _HASHER.hash(value))
        elif (doctype, fieldname) == ("User", "api_secret"):
            self._put(doctype, name, fieldname, "hmac", self._mac(value))
            # a copy the site can send on (an Event Producer hands it to the producer so that it can
            # call this site back); encrypted with the site key, never shown
            self._put(doctype, name, "api_secret#onward", "fernet", self._encrypt(value))
        else:
            self._put(doctype, name, fieldname, "fernet", self._encrypt(value))

    def check_password(self, user: str, password: str) -> bool:
        stored = self._get("User", user, "password", "argon2")
        if stored is None:
            _HASHER.hash("timing-equaliser")  # answer as slowly for an unknown user
            return False
        try:
            return _HASHER.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def check_api_secret(self, user: str, secret: str) -> bool:
        return self.api_secret_matches(self._get("User", user, "api_secret", "hmac"), secret)

    def api_secret_matches(self, stored: str | None, secret: str) -> bool:
        """``secret`` against the stored keyed hash (as read by the caller), in constant time; the
        same work when nothing is stored, so an unknown key answers as fast as a wrong secret."""
        return hmac.compare_digest(stored or "", self._mac(secret)) and stored is not None

    API_SECRET_JOIN = ('LEFT JOIN "__auth" a ON a.doctype = \'User\' AND a.name = u.name '
                       "AND a.fieldname = 'api_secret' AND a.kind = 'hmac'")  # u: the User, a.value: the hash

    def decrypt(self, doctype: str, name: str, fieldname: str) -> str:
        stored = self._get(doctype, name, fieldname, "fernet")
        if stored is None:
            raise AuthenticationError(f"no {fieldname} is stored for {doctype} {name}", doctype=doctype, name=name)
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken as exc:
            raise AuthenticationError(f"the stored {fieldname} of {doctype} {name} can't be decrypted with this site's key") from exc

    def forget(self, doctype: str, name: str, fieldnames: list[str] | None = None) -> None:
        """The secrets of a document (or only those of ``fieldnames``) are gone."""
        if fieldnames is None:
            self.db.sql('DELETE FROM "__auth" WHERE doctype = ? AND name = ?', (doctype, name))
            return
        for fieldname in fieldnames:
            self.db.sql('DELETE FROM "__auth" WHERE doctype = ? AND name = ? AND fieldname = ?', (doctype, name, fieldname))

    def _encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def _mac(self, value: str) -> str:
        return hmac.new(self._hmac_key, value.encode(), hashlib.sha256).hexdigest()

    def _put(self, doctype: str, name: str, fieldname: str, kind: str, value: str) -> None:
        self.db.sql(
            'INSERT INTO "__auth" (doctype, name, fieldname, kind, value) VALUES (?, ?, ?, ?, ?) '
            "ON CONFLICT (doctype, name, fieldname) DO UPDATE SET kind = excluded.kind, value = excluded.value",
            (doctype, name, fieldname, kind, value),
        )

    def _get(self, doctype: str, name: str, fieldname: str, kind: str) -> str | None:
        return self.db.value(
            'SELECT value FROM "__auth" WHERE doctype = ? AND name = ? AND fieldname = ? AND kind = ?',
            (doctype, name, fieldname, kind),
        )
