"""Shared helpers for the apache tests: where things are, and the SERVERROOT
layout that lets Debian's apache2 run apache/httpd.conf unchanged.

    apache2 -d SERVERROOT -f apache/httpd.conf -DFOREGROUND

SERVERROOT/
    modules -> /usr/lib/apache2/modules   (Debian's shared modules)
    htdocs  -> <repo>/apache/html          (the image copies it to htdocs/)
    cgi-bin -> <repo>/apache/cgi-bin       (the image copies it to cgi-bin/)
    errors  -> <repo>/apache/errors        (the image copies it to errors/)
    logs/                                   (pid file, cgid socket)
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APACHE_DIR = REPO / "apache"
HTTPD_CONF = APACHE_DIR / "httpd.conf"
DEBIAN_MODULES = Path("/usr/lib/apache2/modules")
INSTALL_SCRIPT = Path(__file__).resolve().parent / "install-deps.sh"


def apache2_binary() -> str:
    """Path of Debian's apache2; installs the package (as root) if missing."""
    found = shutil.which("apache2") or (
        "/usr/sbin/apache2" if os.path.exists("/usr/sbin/apache2") else None
    )
    if found:
        return found
    if os.geteuid() != 0:
        raise RuntimeError(
            f"apache2 is not installed; run {INSTALL_SCRIPT} as root"
        )
    subprocess.run(["bash", str(INSTALL_SCRIPT)], check=True, timeout=900)
    return shutil.which("apache2") or "/usr/sbin/apache2"


def make_serverroot(root: Path) -> Path:
    """Create the SERVERROOT layout above in `root` and return it.

    apache's children run as www-data: every directory from / down to
    htdocs and cgi-bin must be searchable by others (pytest's tmp_path is
    0700, so use a plain mkdtemp directory and chmod it).
    """
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(0o755)
    (root / "logs").mkdir(exist_ok=True)
    for name, target in (
        ("modules", DEBIAN_MODULES),
        ("htdocs", APACHE_DIR / "html"),
        ("cgi-bin", APACHE_DIR / "cgi-bin"),
        ("errors", APACHE_DIR / "errors"),
    ):
        link = root / name
        if not link.exists():
            link.symlink_to(target)
    for path in [root, APACHE_DIR / "html", APACHE_DIR / "cgi-bin", APACHE_DIR / "errors"]:
        for part in [path, *path.parents]:
            if not os.stat(part).st_mode & 0o001:
                raise RuntimeError(
                    f"{part} is not searchable by others: apache's www-data "
                    "children could not reach the site")
    return root
