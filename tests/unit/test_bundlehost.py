"""The bundle-key finding (issue 26): Pacemaker maps the engine host's /etc/pacemaker/authkey
into every bundle replica, so a node that starts bundles through the engine must have its
remote key there; judged from /proc/self/mountinfo."""

from __future__ import annotations

from pcmk_launch import bundlehost

SOCK = "/var/run/docker.sock"
KEY = "/etc/pacemaker/authkey"
BASE = (
    "1465 1310 0:123 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/x\n"
    "1478 1465 8:1 /var/lib/docker/containers/abc/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n"
)
HOST_DIR = BASE + "1480 1465 8:1 /etc/pacemaker /etc/pacemaker rw,relatime - ext4 /dev/sda1 rw\n"
HOST_FILE = BASE + "1481 1465 8:1 /etc/pacemaker/authkey /etc/pacemaker/authkey ro - ext4 x rw\n"
SUBVOL = BASE + "1480 1465 0:40 /@/etc/pacemaker /etc/pacemaker rw - btrfs /dev/sda2 rw\n"
VOLUME = BASE + (
    "1480 1465 8:1 /var/lib/docker/volumes/k/_data /etc/pacemaker rw - ext4 /dev/sda1 rw\n"
)


def test_no_engine_socket_or_no_remote_key_says_nothing():
    assert bundlehost.finding(None, KEY, HOST_DIR) is None
    assert bundlehost.finding(SOCK, None, BASE) is None


def test_the_hosts_etc_pacemaker_bind_mounted_is_fine():
    for info in (HOST_DIR, HOST_FILE, SUBVOL):
        f = bundlehost.finding(SOCK, KEY, info)
        assert f is not None and f.ok, info
        assert "get this node's remote key" in f.text


def test_key_in_the_container_only_is_a_warning_with_the_mount_as_fix():
    f = bundlehost.finding(SOCK, KEY, BASE)
    assert f is not None and not f.ok
    assert "in this container only" in f.text and "empty directory" in f.text
    assert "-v /etc/pacemaker:/etc/pacemaker" in f.line()


def test_a_volume_at_etc_pacemaker_is_not_the_hosts():
    f = bundlehost.finding(SOCK, KEY, VOLUME)
    assert f is not None and not f.ok
    assert "mounted from /var/lib/docker/volumes/k/_data" in f.text
    assert "PCMK_authkey_location" in f.text


def test_a_moved_key_is_not_where_bundles_look():
    f = bundlehost.finding(SOCK, "/srv/key", HOST_DIR)
    assert f is not None and not f.ok
    assert "unset PCMK_authkey_location" in f.fix


def test_the_last_of_stacked_mounts_counts_and_escapes_are_read():
    info = VOLUME + "1490 1465 8:1 /etc/pacemaker /etc/pacemaker rw - ext4 /dev/sda1 rw\n"
    assert bundlehost.mount_root(info, "/etc/pacemaker") == "/etc/pacemaker"
    spaced = BASE + "1491 1465 8:1 /a\\040b /etc/pacemaker rw - ext4 x rw\n"
    assert bundlehost.mount_root(spaced, "/etc/pacemaker") == "/a b"
    assert bundlehost.mount_root(BASE, "/etc/pacemaker") is None
